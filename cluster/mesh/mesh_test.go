package mesh

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond with a generous deadline (a loaded host).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The mesh over the cluster's real state (embedded NATS): it follows the
// records with watches — a task that runs enters the set and is served
// on the published port, a task desired STOPPED leaves it, a deleted
// service closes its port — and stops serving when its context ends.
func TestMeshFollowsState(t *testing.T) {
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	backend := echoServer(t, "t1")
	port := freePort(t)
	must := func(_ uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Nodes().Create(ctx, "n1", state.Node{ID: "n1", Addr: "127.0.0.1"}))
	must(st.TaskDefs().Create(ctx, state.TaskDefKey("web", 1), webDef(1, false)))
	svc := webService("web", port, time.Now())
	must(st.Services().Create(ctx, state.ServiceKey("default", "web"), svc))

	mctx, mcancel := context.WithCancel(ctx)
	m := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), WithListenAddr("127.0.0.1"))
	done := make(chan struct{})
	go func() { m.Run(mctx); close(done) }()
	gw := netip.MustParseAddr("10.1.0.1")
	waitFor(t, "the service's name, without an address", func() bool { a, ok := m.Lookup("web", gw); return ok && len(a) == 0 })
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	waitFor(t, "the port published", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	task := runningTask("t1", "web", "n1", 1, int(backend.Port()))
	key := state.TaskKey("n1", "t1")
	must(st.Tasks().Create(ctx, key, task))
	waitFor(t, "the task in the set", func() bool { a, ok := m.Lookup("web.default.wharf", gw); return ok && len(a) == 1 && a[0] == gw })
	if got := roundTrip(t, addr, "hi"); got != "t1:hi" {
		t.Fatalf("through the mesh: %q", got)
	}

	_, err = state.Mutate(ctx, st.Tasks(), key, func(x *state.Task) error { x.DesiredStatus = "STOPPED"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopping task out of the set", func() bool { a, ok := m.Lookup("web", gw); return ok && len(a) == 0 })
	if got := roundTrip(t, addr, "hi"); got != "" {
		t.Fatalf("no backend, yet answered %q", got)
	}

	_, err = state.Mutate(ctx, st.Services(), state.ServiceKey("default", "web"), func(s *state.Service) error { s.Status = state.ServiceDraining; return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted service's port closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, ok := m.Lookup("web", gw); ok {
		t.Fatal("a deleted service's name is still answered")
	}
	mcancel()
	<-done
}
