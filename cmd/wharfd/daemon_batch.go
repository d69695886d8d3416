package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/batch/clusterlaunch"
	"github.com/wharf-dev/wharf/batch/enginelaunch"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/server/batchapi"
	"github.com/wharf-dev/wharf/server/logsapi"
)

// batchConfig holds the daemon's Batch flags.
type batchConfig struct {
	// minTimeout lowers Batch's 60 s floor of attemptDurationSeconds, for
	// the integration tests only (hidden).
	minTimeout int
	// stopGrace is how long a stopped attempt gets between SIGTERM and
	// SIGKILL (Batch's 30 s; hidden, for tests).
	stopGrace time.Duration
	// retention is how long finished jobs are kept (--batch-job-retention).
	retention time.Duration
}

func addBatchFlags(f *pflag.FlagSet, c *batchConfig) {
	f.IntVar(&c.minTimeout, "batch-min-timeout", batch.MinTimeout, "smallest attemptDurationSeconds Batch accepts (tests only)")
	f.DurationVar(&c.stopGrace, "batch-stop-grace", 30*time.Second, "time between SIGTERM and SIGKILL when Batch stops an attempt (tests only)")
	f.DurationVar(&c.retention, "batch-job-retention", batch.DefaultRetention, "how long Batch keeps finished jobs (SUCCEEDED or FAILED) before forgetting them; 0 keeps them forever")
	_ = f.MarkHidden("batch-min-timeout")
	_ = f.MarkHidden("batch-stop-grace")
}

// batchRuntime is the running Batch side of the daemon: outside a
// cluster, its manager on the daemon's NATS with attempts on the local
// engine; in a cluster, the leader's manager on the cluster's JetStream
// with attempts as cluster tasks (daemon_batch_cluster.go).
type batchRuntime struct {
	// manager is the Manager running here (nil on a cluster node that
	// does not lead).
	manager func() *batch.Manager
	logs    batch.LogReader
	api     http.Handler
	native  http.Handler
	stop    func()
}

// pullImages adapts the image store to the launcher.
type pullImages struct{ s *store.Store }

func (p pullImages) Pull(ctx context.Context, ref string) error {
	_, err := p.s.Pull(ctx, ref, nil)
	return err
}

// startBatch starts Batch. In a cluster (cl not nil) its state is the
// cluster's and its attempts are the cluster's tasks; otherwise it loads
// its state from the daemon's own JetStream and runs attempts on this
// daemon's engine.
func startBatch(ctx context.Context, root string, c batchConfig, nc *nats.Conn, cl *clusterRuntime, ce *container.Engine, bus *events.Bus, images *store.Store, keys *identity.Keys, log *slog.Logger) (*batchRuntime, error) {
	if cl != nil {
		b := startClusterBatch(c, cl, keys, log)
		return &batchRuntime{manager: b.manager, logs: clusterlaunch.LogReader(cl.store), api: b.handler("api"), native: b.handler("native"), stop: b.close}, nil
	}
	st, err := state.New(nc, 1)
	if err != nil {
		return nil, err
	}
	l, err := enginelaunch.New(ce, bus, filepath.Join(root, "batch", "attempts"), enginelaunch.WithLogger(log),
		enginelaunch.WithImages(pullImages{images}), enginelaunch.WithStopGrace(c.stopGrace))
	if err != nil {
		return nil, err
	}
	m := batch.New(st, l, batch.WithLogger(log), batch.WithMinTimeout(c.minTimeout), batch.WithRetention(c.retention))
	lctx, lcancel := context.WithTimeout(ctx, time.Minute)
	defer lcancel()
	if err := m.Load(lctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("loading Batch's state: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	go m.Run(rctx)
	api := batchapi.New(m, keys, batchapi.WithLogger(log), batchapi.WithAccount(functions.DefaultRegion, functions.DefaultAccount))
	return &batchRuntime{manager: func() *batch.Manager { return m }, logs: l, api: api, native: batchapi.Native(m, l),
		stop: func() { cancel(); l.Close() }}, nil
}

func (b *batchRuntime) close() { b.stop() }

// logSource is the log group of Batch's attempts.
func (b *batchRuntime) logSource(root string) batchLogSource {
	return batchLogSource{m: b.manager, logs: b.logs, dir: filepath.Join(root, "batch")}
}

// withBatch routes Batch's calls (batchapi.Matches) to its API.
func withBatch(h http.Handler, next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if batchapi.Matches(r) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// nativeHandler serves `wharf batch` on the unix socket.
func (b *batchRuntime) nativeHandler() http.Handler { return b.native }

// withBatchNative routes the native API's /batch/ paths to Batch.
func withBatchNative(b http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, wharf.Prefix+"/batch/") {
			b.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// batchLogSource serves the log group /aws/batch/job: one stream per
// attempt, <definition>/default/<attempt id>, as Batch names them.
type batchLogSource struct {
	// m is the Manager running here (nil: none, the group is empty).
	m    func() *batch.Manager
	logs batch.LogReader
	dir  string
}

const batchGroup = "/aws/batch/job"

// streams are the attempts' streams of the Manager running here.
func (s batchLogSource) streams() []batch.StreamRef {
	m := s.m()
	if m == nil {
		return nil
	}
	return m.AllStreams()
}

func (s batchLogSource) Prefix() string { return batchGroup }

func (s batchLogSource) group() logsapi.Group {
	g := logsapi.Group{Name: batchGroup}
	if fi, err := os.Stat(s.dir); err == nil {
		g.Created = fi.ModTime()
	}
	return g
}

// Groups implements logsapi.Source: the group exists once an attempt
// has started, as Batch's appears with its first stream.
func (s batchLogSource) Groups(ctx context.Context) ([]logsapi.Group, error) {
	if len(s.streams()) == 0 {
		return nil, nil
	}
	return []logsapi.Group{s.group()}, nil
}

func (s batchLogSource) Group(ctx context.Context, name string) (logsapi.Group, error) {
	if name != batchGroup || len(s.streams()) == 0 {
		return logsapi.Group{}, fmt.Errorf("The specified log group does not exist: %s: %w", name, errdefs.ErrNotFound)
	}
	return s.group(), nil
}

func (s batchLogSource) Streams(ctx context.Context, g logsapi.Group) ([]logsapi.StreamInfo, error) {
	var out []logsapi.StreamInfo
	for _, r := range s.streams() {
		out = append(out, logsapi.StreamInfo{Name: r.Name, Created: r.Started, First: r.Started, LastEvent: r.Stopped})
	}
	return out, nil
}

func (s batchLogSource) Events(ctx context.Context, g logsapi.Group, each func(logsapi.Event) error) error {
	for _, r := range s.streams() {
		err := s.logs.Logs(ctx, r.Name, func(e batch.LogEvent) error {
			return each(logsapi.Event{Stream: r.Name, Time: e.Time, Message: e.Message})
		})
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// batchRoute names a Batch call for metrics.
func batchRoute(r *http.Request) string { return batchapi.Route(r) }
