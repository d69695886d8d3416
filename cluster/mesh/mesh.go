package mesh

import (
	"context"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
)

// settle is how long the mesh waits after a change for the changes that
// come with it (a task's record is written several times as it starts)
// before it rebuilds its table.
const settle = 50 * time.Millisecond

// retryEvery is how often a port that could not be opened is tried
// again.
const retryEvery = 5 * time.Second

// Mesh is a node's service discovery and routing mesh. Run follows the
// cluster's records until its context ends, then closes every port;
// Lookup answers DNS names at any time (none before the first build).
type Mesh struct {
	st       *state.Store
	log      *slog.Logger
	addr     string
	maxConns int

	table atomic.Pointer[Table]
	// live are the ports this node's listeners hold: a name is only
	// answered with the node's address when its port listens here.
	live atomic.Pointer[map[int]bool]

	mu       sync.Mutex
	services map[string]state.Service
	tasks    map[string]state.Task
	nodes    map[string]state.Node
	tds      map[string]state.TaskDefinition
	proxies  map[int]*proxy
	// failing are the ports that could not be opened, so that a retry
	// that fails again is not logged again.
	failing map[int]bool
	changed chan struct{}
}

// Option configures a Mesh.
type Option func(*Mesh)

// WithListenAddr has the mesh listen on one address of the node instead
// of all of them.
func WithListenAddr(addr string) Option { return func(m *Mesh) { m.addr = addr } }

// WithMaxConns bounds the connections of each published port (default
// DefaultMaxConns).
func WithMaxConns(n int) Option { return func(m *Mesh) { m.maxConns = n } }

// New returns the mesh of a node of the cluster whose state is st.
func New(st *state.Store, log *slog.Logger, opts ...Option) *Mesh {
	m := &Mesh{st: st, log: log, maxConns: DefaultMaxConns,
		services: map[string]state.Service{}, tasks: map[string]state.Task{}, nodes: map[string]state.Node{},
		tds: map[string]state.TaskDefinition{}, proxies: map[int]*proxy{}, failing: map[int]bool{}, changed: make(chan struct{}, 1)}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Lookup answers a DNS name (network.Discovery): the gateway gw of the
// asking network, where the node's mesh listens, when name is a service's
// and the service has a healthy task; no address when it has none; ok
// false for a name that is no service's.
func (m *Mesh) Lookup(name string, gw netip.Addr) ([]netip.Addr, bool) {
	t := m.table.Load()
	if t == nil {
		return nil, false
	}
	port, ok := t.Names[strings.ToLower(strings.TrimSuffix(name, "."))]
	if !ok {
		return nil, false
	}
	live := m.live.Load()
	if r := t.Routes[port]; r == nil || len(r.Backends) == 0 || !gw.IsValid() || live == nil || !(*live)[port] {
		return nil, true
	}
	return []netip.Addr{gw}, true
}

// Table returns the table the mesh serves now (nil before the first
// build).
func (m *Mesh) Table() *Table { return m.table.Load() }

// Run follows the services, tasks and nodes until ctx ends.
func (m *Mesh) Run(ctx context.Context) {
	go follow(ctx, m, m.st.Services(), func(k string, v state.Service, del bool) bool { return put(m.services, k, v, del) }, func() { m.services = map[string]state.Service{} })
	go follow(ctx, m, m.st.Tasks(), func(k string, v state.Task, del bool) bool {
		// Only a service's live tasks can be backends: the others
		// (Batch's and RunTask's, thousands of STOPPED ones) are not
		// kept, and their changes rebuild nothing.
		if !del && (v.Service == "" || v.LastStatus == string(sched.StatusStopped)) {
			if _, had := m.tasks[k]; !had {
				return false
			}
			del = true
		}
		return put(m.tasks, k, v, del)
	}, func() { m.tasks = map[string]state.Task{} })
	go follow(ctx, m, m.st.Nodes(), func(k string, v state.Node, del bool) bool { return put(m.nodes, k, v, del) }, func() { m.nodes = map[string]state.Node{} })
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	defer m.closeAll()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.changed:
			select {
			case <-ctx.Done():
				return
			case <-time.After(settle):
			}
			m.rebuild(ctx)
		case <-retry.C:
			m.mu.Lock()
			missing := false
			if t := m.table.Load(); t != nil {
				for p := range t.Routes {
					if m.proxies[p] == nil {
						missing = true
					}
				}
			}
			m.mu.Unlock()
			if missing {
				m.rebuild(ctx)
			}
		}
	}
}

// put applies one change to a copy; it reports whether the copy may
// have changed.
func put[T any](into map[string]T, k string, v T, del bool) bool {
	if del {
		if _, had := into[k]; !had {
			return false
		}
		delete(into, k)
	} else {
		into[k] = v
	}
	return true
}

// follow watches one table into the mesh's copy of it, asking for a
// rebuild after every change, and watches again after a lost watch
// (starting from an empty copy: the new watch sends every value again).
func follow[T any](ctx context.Context, m *Mesh, t state.Table[T], apply func(key string, v T, deleted bool) bool, reset func()) {
	for ctx.Err() == nil {
		ch, err := t.Watch(ctx)
		if err == nil {
			m.mu.Lock()
			reset()
			m.mu.Unlock()
			m.kick()
			for e := range ch {
				m.mu.Lock()
				changed := apply(e.Key, e.Value, e.Deleted)
				m.mu.Unlock()
				if changed {
					m.kick()
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (m *Mesh) kick() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// rebuild reads the task definitions it lacks, builds the table, serves
// it and opens and closes ports to match.
func (m *Mesh) rebuild(ctx context.Context) {
	m.mu.Lock()
	var want []string
	for _, t := range m.tasks {
		k := state.TaskDefKey(t.Family, t.Revision)
		if _, ok := m.tds[k]; !ok && t.Service != "" {
			want = append(want, k)
		}
	}
	m.mu.Unlock()
	for _, k := range want {
		e, err := m.st.TaskDefs().Get(ctx, k)
		if err != nil {
			continue
		}
		m.mu.Lock()
		m.tds[k] = e.Value
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in := Input{TaskDefs: m.tds, Nodes: m.nodes}
	for _, s := range m.services {
		in.Services = append(in.Services, s)
	}
	for _, t := range m.tasks {
		in.Tasks = append(in.Tasks, t)
	}
	t := Build(in)
	prev := m.table.Swap(t)
	for _, c := range t.Conflicts {
		if prev == nil || !contains(prev.Conflicts, c) {
			m.log.Warn("mesh: a service is refused a port or a name", "conflict", c)
		}
	}
	ports := make([]int, 0, len(t.Routes))
	for p := range t.Routes {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		r := t.Routes[p]
		px := m.proxies[p]
		if px == nil {
			var err error
			px, err = listen(m.addr, p, m.maxConns, m.log)
			if err != nil {
				if !m.failing[p] {
					m.log.Warn("mesh: cannot publish the port of a service; retrying every 5 s", "service", r.Service, "port", p, "err", err)
				}
				m.failing[p] = true
				continue
			}
			delete(m.failing, p)
			m.log.Info("mesh: port published", "service", r.Service, "port", p)
			m.proxies[p] = px
		}
		px.setBackends(r.Backends)
	}
	for p, px := range m.proxies {
		if t.Routes[p] == nil {
			m.log.Info("mesh: port closed", "port", p)
			px.close()
			delete(m.proxies, p)
		}
	}
	for p := range m.failing {
		if t.Routes[p] == nil {
			delete(m.failing, p)
		}
	}
	m.storeLive()
}

// storeLive records the ports that listen; m.mu is held.
func (m *Mesh) storeLive() {
	live := make(map[int]bool, len(m.proxies))
	for p := range m.proxies {
		live[p] = true
	}
	m.live.Store(&live)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// closeAll closes every port.
func (m *Mesh) closeAll() {
	m.mu.Lock()
	var all []*proxy
	for p, px := range m.proxies {
		px.close()
		all = append(all, px)
		delete(m.proxies, p)
	}
	m.table.Store(&Table{Names: map[string]int{}, Routes: map[int]*Route{}})
	m.storeLive()
	m.mu.Unlock()
	for _, px := range all {
		px.wait()
	}
}
