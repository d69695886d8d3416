package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/trigger"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/health"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/metrics/containers"
	"github.com/wharf-dev/wharf/server/batchapi"
	"github.com/wharf-dev/wharf/server/ecrapi"
	"github.com/wharf-dev/wharf/server/ecsapi"
	"github.com/wharf-dev/wharf/server/logsapi"
)

// observability is the daemon's own metrics beside the engines': its
// APIs' requests, container starts, image transfers, shims, NATS; and the
// readiness checks of /readyz.
type observability struct {
	reg      *prometheus.Registry
	api      *metrics.APIMetrics
	starts   *prometheus.CounterVec
	phases   *prometheus.HistogramVec
	xfers    *prometheus.CounterVec
	xferSecs *prometheus.HistogramVec
	xferByte *prometheus.CounterVec
	checks   []health.Check
	// newLogs builds CloudWatch Logs' API over the containers' logs and
	// fns' (nil: not wired).
	newLogs func(fns logsapi.Functions) (http.Handler, error)
	// logSources are more log groups (Batch's) for newLogs.
	logSources []logsapi.Source
}

func newObservability(reg *prometheus.Registry) *observability {
	o := &observability{reg: reg, api: metrics.NewAPIMetrics(reg),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_container_starts_total",
			Help: "Container starts, by result (ok, error)."}, []string{"result"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_container_start_phase_seconds",
			Help:    "Time of each phase of successful container starts: prepare (root filesystem, network, spec), spawn (the runtime creating and starting the process).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"phase"}),
		xfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_image_transfers_total",
			Help: "Image pulls and pushes, by direction (pull, push) and result (ok, error)."}, []string{"direction", "result"}),
		xferSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_image_transfer_duration_seconds",
			Help:    "Time of image pulls and pushes, by direction.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"direction"}),
		xferByte: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_image_transfer_bytes_total",
			Help: "Layer bytes downloaded by pulls and uploaded by pushes (layers already present move nothing)."}, []string{"direction"}),
	}
	reg.MustRegister(o.starts, o.phases, o.xfers, o.xferSecs, o.xferByte)
	return o
}

// observeStart is the engine's start observer.
func (o *observability) observeStart(t container.StartTiming) {
	if t.Err != nil {
		o.starts.WithLabelValues("error").Inc()
		return
	}
	o.starts.WithLabelValues("ok").Inc()
	o.phases.WithLabelValues("prepare").Observe(t.Prepare.Seconds())
	o.phases.WithLabelValues("spawn").Observe(t.Spawn.Seconds())
}

// watchEngine adds the running containers' cAdvisor-shaped series and
// the shims' states.
func (o *observability) watchEngine(e *container.Engine, execRoot string) {
	o.reg.MustRegister(containers.New(e), newShimCollector(filepath.Join(execRoot, "shims")))
	o.checks = append(o.checks, health.Check{Name: "engine", Fn: func(ctx context.Context) error {
		// The engine answers when its lock is free: a wedged engine
		// does not, and the check times out.
		_ = e.RunningContainers()
		return nil
	}})
}

// watchEvents exposes how many clients and controllers follow the
// engine's event bus (read at scrape time).
func (o *observability) watchEvents(b *events.Bus) {
	o.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_event_subscribers",
		Help: "Subscribers of the engine's event bus: /events streams, wharf events and the daemon's own controllers."},
		func() float64 { return float64(b.Subscribers()) }))
}

// watchImages adds the image store's readiness.
func (o *observability) watchImages(s *store.Store) {
	o.checks = append(o.checks, health.Check{Name: "images", Fn: func(ctx context.Context) error {
		_, err := s.List(ctx)
		return err
	}})
}

// watchRegistry adds the embedded registry's readiness: it accepts
// connections.
func (o *observability) watchRegistry(addr string) {
	o.checks = append(o.checks, health.Check{Name: "registry", Fn: func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}})
}

// watchNATS adds NATS's and JetStream's health, as series and as a check.
func (o *observability) watchNATS(nc *nats.Conn) {
	js, _ := jetstream.New(nc)
	n := &natsCollector{nc: nc, js: js}
	o.reg.MustRegister(n)
	o.checks = append(o.checks, health.Check{Name: "nats", Fn: n.check})
}

// enableLogs serves CloudWatch Logs' API on --http over the logs of ce's
// containers and of the functions, with retentions kept under root/logs.
func (o *observability) enableLogs(root string, keys *identity.Keys, ce *container.Engine, log *slog.Logger) {
	o.newLogs = func(fns logsapi.Functions) (http.Handler, error) {
		ret, err := logsapi.OpenRetention(filepath.Join(root, "logs"))
		if err != nil {
			return nil, err
		}
		srcs := append([]logsapi.Source{logsapi.FunctionSource{F: fns}, logsapi.ContainerSource{C: ce}}, o.logSources...)
		return logsapi.New(keys, ret, srcs,
			logsapi.WithLogger(log), logsapi.WithAccount(functions.DefaultRegion, functions.DefaultAccount)), nil
	}
}

// addLogSource adds log groups to CloudWatch Logs' API (before --http
// serves).
func (o *observability) addLogSource(s logsapi.Source) { o.logSources = append(o.logSources, s) }

// meteredImages counts and times the pulls and pushes the APIs ask the
// image store for.
type meteredImages struct {
	*events.Images
	o *observability
}

func (m meteredImages) Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error) {
	t := m.o.transfer("pull", "Downloading", progress)
	img, err := m.Images.Pull(ctx, ref, t.progress)
	t.done(err)
	return img, err
}

func (m meteredImages) Push(ctx context.Context, ref string, progress func(store.Progress)) (store.Pushed, error) {
	t := m.o.transfer("push", "Pushing", progress)
	pushed, err := m.Images.Push(ctx, ref, t.progress)
	t.done(err)
	return pushed, err
}

// transfer follows one pull or push: its layers' bytes are the last
// count the progress of each gave for action.
type transfer struct {
	o         *observability
	direction string
	action    string
	next      func(store.Progress)
	start     time.Time
	mu        sync.Mutex
	bytes     map[string]int64
}

func (o *observability) transfer(direction, action string, next func(store.Progress)) *transfer {
	return &transfer{o: o, direction: direction, action: action, next: next, start: time.Now(), bytes: map[string]int64{}}
}

func (t *transfer) progress(p store.Progress) {
	if p.Action == t.action && p.Current > 0 {
		t.mu.Lock()
		t.bytes[p.ID] = max(t.bytes[p.ID], p.Current)
		t.mu.Unlock()
	}
	if t.next != nil {
		t.next(p)
	}
}

func (t *transfer) done(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	t.o.xfers.WithLabelValues(t.direction, result).Inc()
	t.o.xferSecs.WithLabelValues(t.direction).Observe(time.Since(t.start).Seconds())
	var n int64
	t.mu.Lock()
	for _, b := range t.bytes {
		n += b
	}
	t.mu.Unlock()
	t.o.xferByte.WithLabelValues(t.direction).Add(float64(n))
}

// socketRoutes classifies the requests of the unix socket: the Docker
// API, the native API and, within it, the registry's, keys' and
// functions' administration (their own routers: one route each).
func socketRoutes(native, docker interface{ Route(*http.Request) string }) metrics.Classify {
	return func(r *http.Request) (string, string) {
		p := r.URL.Path
		if !strings.HasPrefix(p, wharf.Prefix+"/") {
			return "docker", docker.Route(r)
		}
		for _, part := range []string{"registry", "keys", "functions"} {
			if p == wharf.Prefix+"/"+part || strings.HasPrefix(p, wharf.Prefix+"/"+part+"/") {
				return "native", r.Method + " " + wharf.Prefix + "/" + part + "/..."
			}
		}
		return "native", native.Route(r)
	}
}

// mountHTTP adds the probes and, when wired, CloudWatch Logs' API to the
// --http address's mux, and counts the requests of rest (Lambda, ECR,
// function routes).
func (o *observability) mountHTTP(mux *http.ServeMux, rest http.Handler, lambda interface{ Route(*http.Request) string }, ecr http.Handler, table *trigger.Table, fns logsapi.Functions) (http.Handler, error) {
	mux.HandleFunc("GET /healthz", health.Healthz)
	mux.Handle("GET /readyz", health.Readyz(o.checks...))
	ecrRoute, _ := ecr.(interface{ Route(*http.Request) string })
	var logs interface {
		http.Handler
		Matches(*http.Request) bool
		Route(*http.Request) string
	}
	if o.newLogs != nil {
		h, err := o.newLogs(fns)
		if err != nil {
			return nil, fmt.Errorf("CloudWatch Logs' API: %w", err)
		}
		logs = h.(*logsapi.Server)
	}
	classify := func(r *http.Request) (string, string) {
		switch {
		case ecrRoute != nil && ecrapi.Matches(r):
			return "ecr", ecrRoute.Route(r)
		case logs != nil && logs.Matches(r):
			return "logs", logs.Route(r)
		case batchapi.Matches(r):
			return "batch", batchRoute(r)
		case ecsapi.Matches(r):
			// One route: the operation is the client's header, and
			// labels must stay a bounded set.
			return "ecs", "POST /"
		}
		if rt, _ := trigger.Find(table.Routes(), r.Method, r.URL.Path); rt != nil {
			return "function", rt.Method + " " + rt.Path
		}
		return "lambda", lambda.Route(r)
	}
	h := rest
	if logs != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if logs.Matches(r) {
				logs.ServeHTTP(w, r)
				return
			}
			rest.ServeHTTP(w, r)
		})
	}
	return o.api.Wrap(classify, h), nil
}

// shimCollector reports the shims by state from their pid files and
// /proc, never asking a shim: a dormant one stays dormant. A shim keeps
// its pid for life (dormancy re-executes it in place), so each shim's pid
// file is read once and its /proc cmdline kept open: a scrape rereads one
// held file per shim, which shows the shim's current program (the kernel
// reads the process's arguments at each read, after an exec too; a held
// /proc file names its process, never a later one with the same pid).
type shimCollector struct {
	dir string
	mu  sync.Mutex
	// open holds each shim's cmdline, by its directory name.
	open map[string]*os.File
}

// maxShimFiles bounds the cmdline files held open; shims past it are
// read with an open per scrape.
const maxShimFiles = 8192

var shimsDesc = prometheus.NewDesc("wharf_shims", "Container shims alive, by state (active, dormant).", []string{"state"}, nil)

func newShimCollector(dir string) *shimCollector {
	return &shimCollector{dir: dir, open: map[string]*os.File{}}
}

func (c *shimCollector) Describe(ch chan<- *prometheus.Desc) { ch <- shimsDesc }

func (c *shimCollector) Collect(ch chan<- prometheus.Metric) {
	var active, dormant int
	ents, _ := os.ReadDir(c.dir)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]bool, len(ents))
	buf := make([]byte, 64)
	for _, e := range ents {
		name := e.Name()
		seen[name] = true
		n, ok := c.readCmdline(name, buf)
		if !ok || n == 0 {
			continue
		}
		// A dormant shim renames itself (runtime/shim/dormant_linux.go).
		if strings.HasPrefix(string(buf[:n]), "wharf-shim-dormant") {
			dormant++
		} else {
			active++
		}
	}
	for name, f := range c.open {
		if !seen[name] {
			f.Close()
			delete(c.open, name)
		}
	}
	ch <- prometheus.MustNewConstMetric(shimsDesc, prometheus.GaugeValue, float64(active), "active")
	ch <- prometheus.MustNewConstMetric(shimsDesc, prometheus.GaugeValue, float64(dormant), "dormant")
}

// readCmdline reads the start of the cmdline of the shim in directory
// name into buf. Called with c.mu held.
func (c *shimCollector) readCmdline(name string, buf []byte) (int, bool) {
	if f, ok := c.open[name]; ok {
		n, err := f.ReadAt(buf, 0)
		if n > 0 && (err == nil || err == io.EOF) {
			return n, true
		}
		// The shim is gone (a later one in the same directory has
		// another pid): forget its file.
		f.Close()
		delete(c.open, name)
	}
	raw, err := os.ReadFile(filepath.Join(c.dir, name, "shim.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return 0, false
	}
	n, err := f.ReadAt(buf, 0)
	if n == 0 || (err != nil && err != io.EOF) {
		f.Close()
		return 0, false
	}
	if len(c.open) < maxShimFiles {
		c.open[name] = f
	} else {
		f.Close()
	}
	return n, true
}

// natsCollector reports the daemon's NATS connection and JetStream.
type natsCollector struct {
	nc *nats.Conn
	js jetstream.JetStream
}

var (
	natsUp      = prometheus.NewDesc("wharf_nats_connected", "Whether the daemon's NATS connection is connected (1) or not (0).", nil, nil)
	jsUp        = prometheus.NewDesc("wharf_jetstream_up", "Whether JetStream answers the daemon's account info request (1) or not (0).", nil, nil)
	jsStreams   = prometheus.NewDesc("wharf_jetstream_streams", "Streams in the daemon's JetStream account.", nil, nil)
	jsConsumers = prometheus.NewDesc("wharf_jetstream_consumers", "Consumers in the daemon's JetStream account.", nil, nil)
	jsBytes     = prometheus.NewDesc("wharf_jetstream_storage_bytes", "Bytes the daemon's JetStream account stores, by storage (file, memory).", []string{"storage"}, nil)
)

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{natsUp, jsUp, jsStreams, jsConsumers, jsBytes} {
		ch <- d
	}
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(natsUp, prometheus.GaugeValue, b(c.nc.IsConnected()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := c.accountInfo(ctx)
	ch <- prometheus.MustNewConstMetric(jsUp, prometheus.GaugeValue, b(err == nil))
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(jsStreams, prometheus.GaugeValue, float64(info.Streams))
	ch <- prometheus.MustNewConstMetric(jsConsumers, prometheus.GaugeValue, float64(info.Consumers))
	ch <- prometheus.MustNewConstMetric(jsBytes, prometheus.GaugeValue, float64(info.Store), "file")
	ch <- prometheus.MustNewConstMetric(jsBytes, prometheus.GaugeValue, float64(info.Memory), "memory")
}

func (c *natsCollector) accountInfo(ctx context.Context) (*jetstream.AccountInfo, error) {
	if c.js == nil {
		return nil, errors.New("no JetStream context")
	}
	return c.js.AccountInfo(ctx)
}

func (c *natsCollector) check(ctx context.Context) error {
	if !c.nc.IsConnected() {
		return fmt.Errorf("NATS connection %s", c.nc.Status())
	}
	if _, err := c.accountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	return nil
}
