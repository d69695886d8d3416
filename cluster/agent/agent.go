// Package agent is the cluster agent every node runs: it registers the
// node in the cluster's state (id, name, address, capacity, attributes,
// labels), heartbeats every Interval, and on a manager keeps the list of
// managers it would dial after a restart current. Package nodes.go turns
// registrations and heartbeats into what `wharf node ls` shows.
package agent

import (
	"context"
	"log/slog"
	"maps"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
)

// Interval is how often a node heartbeats; DownAfter how old its last
// heartbeat may be before the node is reported DOWN.
const (
	Interval  = 2 * time.Second
	DownAfter = 10 * time.Second
)

// Self is what the agent registers about its node.
type Self struct {
	ID, Name, Addr string
	Manager        bool
	RouteAddr      string
	ClientAddr     string
	JoinAddr       string
	// Labels are the daemon's --node-label flags: set at every start,
	// over those set with `wharf node label`.
	Labels  map[string]string
	Version string
}

// Probe reports what the heartbeat carries that changes: whether this
// manager leads, and how many containers run.
type Probe interface {
	Leader() bool
	RunningContainers(ctx context.Context) int
}

// Agent registers and heartbeats one node.
type Agent struct {
	st       *state.Store
	self     Self
	probe    Probe
	log      *slog.Logger
	now      func() time.Time
	managers func([]state.Node)
}

// Option configures an Agent.
type Option func(*Agent)

// WithManagers has the agent report the cluster's managers to f after it
// registers and then every managersEvery: the node keeps them, so that
// after a restart it dials every manager, not only those it knew when it
// joined.
func WithManagers(f func([]state.Node)) Option { return func(a *Agent) { a.managers = f } }

// managersEvery is how often the managers are reported.
const managersEvery = 15 * time.Second

// New returns an agent for self on st.
func New(st *state.Store, self Self, probe Probe, log *slog.Logger, opts ...Option) *Agent {
	a := &Agent{st: st, self: self, probe: probe, log: log, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a
}

// reportManagers passes the managers registered to the hook.
func (a *Agent) reportManagers(ctx context.Context) {
	if a.managers == nil {
		return
	}
	ns, err := a.st.Nodes().List(ctx)
	if err != nil {
		return
	}
	var ms []state.Node
	for _, n := range ns {
		if n.Value.Manager {
			ms = append(ms, n.Value)
		}
	}
	if len(ms) > 0 {
		a.managers(ms)
	}
}

// Capacity is the node's CPU units (1024 per core) and memory in MiB.
func Capacity() (cpu, memMiB int) {
	cpu = runtime.NumCPU() * 1024
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		memMiB = int(uint64(si.Totalram) * uint64(si.Unit) >> 20)
	}
	return cpu, memMiB
}

// Run registers the node (retrying until the cluster's state answers),
// then heartbeats until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	for {
		err := a.register(ctx)
		if err == nil {
			break
		}
		a.log.Info("cluster: registering the node; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(Interval):
		}
	}
	a.log.Info("cluster: node registered", "node", a.self.ID, "name", a.self.Name)
	a.reportManagers(ctx)
	lastReport := a.now()
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		if a.now().Sub(lastReport) >= managersEvery {
			a.reportManagers(ctx)
			lastReport = a.now()
		}
		hb := state.Heartbeat{}
		if a.probe != nil {
			hb.Leader = a.probe.Leader()
			hb.RunningContainers = a.probe.RunningContainers(ctx)
		}
		if _, err := a.st.Heartbeats().Put(ctx, a.self.ID, hb); err != nil && ctx.Err() == nil {
			a.log.Debug("cluster: heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// register creates or refreshes the node's record under its id, so a
// restarted node is the same record, never a second one. Availability and
// labels set through the API are kept.
func (a *Agent) register(ctx context.Context) error {
	nodes := a.st.Nodes()
	cpu, mem := Capacity()
	for {
		e, err := nodes.Get(ctx, a.self.ID)
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		n := e.Value
		if errdefs.IsNotFound(err) {
			n = state.Node{ID: a.self.ID, Availability: state.AvailabilityActive, RegisteredAt: a.now().UTC()}
		}
		n.Name, n.Addr, n.Manager = a.self.Name, a.self.Addr, a.self.Manager
		n.RouteAddr, n.ClientAddr, n.JoinAddr = a.self.RouteAddr, a.self.ClientAddr, a.self.JoinAddr
		n.CPU, n.MemoryMiB, n.EngineVersion = cpu, mem, a.self.Version
		n.Attributes = map[string]string{"os": runtime.GOOS, "arch": runtime.GOARCH}
		if len(a.self.Labels) > 0 {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			maps.Copy(n.Labels, a.self.Labels)
		}
		if e.Revision == 0 {
			_, err = nodes.Create(ctx, a.self.ID, n)
		} else {
			_, err = nodes.Update(ctx, a.self.ID, n, e.Revision)
		}
		if errdefs.IsConflict(err) {
			continue
		}
		return err
	}
}
