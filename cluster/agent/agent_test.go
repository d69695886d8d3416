package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func newStore(t *testing.T) *state.Store {
	t.Helper()
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type probe struct{}

func (probe) Leader() bool                          { return true }
func (probe) RunningContainers(context.Context) int { return 2 }

// A node registers under its id; a second start (a restart) refreshes
// the same record, keeping the availability and labels set through the
// API and laying its --node-label flags over them.
func TestRegisterKeepsOperatorsChanges(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	a := New(st, Self{ID: "n1", Name: "one", Addr: "10.0.0.1", Labels: map[string]string{"zone": "a"}}, probe{}, log)
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := NewNodes(st)
	if _, err := nodes.Update(ctx, "one", state.AvailabilityDrain, map[string]string{"rack": "r1", "zone": "z"}, nil); err != nil {
		t.Fatal(err)
	}
	a = New(st, Self{ID: "n1", Name: "one", Addr: "10.0.0.9", Labels: map[string]string{"zone": "b"}}, probe{}, log)
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := st.Nodes().List(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("records: %+v %v", all, err)
	}
	n := all[0].Value
	if n.Availability != state.AvailabilityDrain || n.Labels["rack"] != "r1" || n.Labels["zone"] != "b" || n.Addr != "10.0.0.9" || n.CPU < 1024 || n.Attributes["os"] == "" {
		t.Fatalf("record: %+v", n)
	}
}

// Run heartbeats: the node is READY with what the probe says, and DOWN
// once its heartbeat is older than DownAfter.
func TestRunHeartbeats(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reported []state.Node
	done := make(chan struct{})
	a := New(st, Self{ID: "n1", Name: "one", Manager: true, ClientAddr: "x:1", RouteAddr: "x:2"}, probe{}, slog.New(slog.DiscardHandler),
		WithManagers(func(ms []state.Node) {
			if reported == nil {
				reported = ms
				close(done)
			}
		}))
	go a.Run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("managers never reported")
	}
	if len(reported) != 1 || reported[0].ID != "n1" {
		t.Fatalf("managers: %+v", reported)
	}
	nodes := NewNodes(st)
	var v NodeView
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if v, err = nodes.Resolve(ctx, "n"); err == nil && v.Status == state.StatusReady {
			break
		}
	}
	if v.Status != state.StatusReady || !v.Leader || v.Running != 2 {
		t.Fatalf("view: %+v", v)
	}
	cancel()
	nodes.now = func() time.Time { return time.Now().Add(DownAfter + time.Second) }
	v, err := nodes.Resolve(context.Background(), "one")
	if err != nil || v.Status != state.StatusDown || v.Leader {
		t.Fatalf("after DownAfter: %+v %v", v, err)
	}
}
