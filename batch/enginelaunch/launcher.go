// Package enginelaunch runs Batch attempts as containers of the local
// engine: batch.Launcher over engine/container, with the ends learned
// from the engine's event bus (the die of a labelled container), never
// by polling.
//
// An attempt's container is named wharf-batch-<attempt id> and labelled
// with the job's id and the attempt's, so that a restarted daemon finds
// it again (Watch). When it dies, the launcher copies its log into the
// attempt's own file and writes the attempt's end beside it before it
// removes the container, so that the log outlives the container and an
// end is never lost between the die and the manager's record:
//
//	<dir>/<attempt id>.log   the attempt's output, json-file records
//	                         (runtime/logfile), stdout and stderr
//	<dir>/<attempt id>.end   the attempt's end (batch.AttemptEnd, JSON)
//
// The resources asked for become the container's limits: VCPU a CPU
// quota (NanoCPUs), MEMORY a memory limit without swap.
package enginelaunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Labels on an attempt's container.
const (
	LabelJob     = "wharf.batch.job-id"
	LabelAttempt = "wharf.batch.attempt"
)

// ReasonInterrupted is the reason of an attempt whose start the daemon's
// restart cut.
const ReasonInterrupted = "CannotStartContainerError: the daemon restarted while the attempt was starting"

// namePrefix starts the name of every attempt's container.
const namePrefix = "wharf-batch-"

// Engine is what the launcher needs of the container engine
// (container.Engine).
type Engine interface {
	Create(ctx context.Context, o container.CreateOptions) (*container.Container, error)
	Start(ctx context.Context, ref string) error
	Get(ctx context.Context, ref string) (*container.Container, error)
	Stop(ctx context.Context, ref string, timeout *int, signal string) error
	Remove(ctx context.Context, ref string, o container.RemoveOptions) error
	Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error
	List(ctx context.Context) []*container.Container
}

// Bus is what the launcher needs of the event bus (events.Bus).
type Bus interface {
	Subscribe(o events.SubscribeOptions) (*events.Subscription, error)
}

// Images pulls an image the engine does not have (image/store.Store).
type Images interface {
	Pull(ctx context.Context, ref string) error
}

// Option configures a Launcher.
type Option func(*Launcher)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(x *Launcher) { x.log = l } }

// WithImages lets the launcher pull images it does not have.
func WithImages(i Images) Option { return func(x *Launcher) { x.images = i } }

// WithStopGrace sets how long Stop waits after SIGTERM before SIGKILL
// (Batch's 30 s by default).
func WithStopGrace(d time.Duration) Option { return func(x *Launcher) { x.grace = d } }

// Launcher runs attempts on the local engine.
type Launcher struct {
	e      Engine
	dir    string
	log    *slog.Logger
	images Images
	grace  time.Duration
	ends   chan batch.AttemptEnd
	found  chan batch.AttemptFound
	sub    *events.Subscription
	cancel context.CancelFunc

	mu sync.Mutex
	// mine are the attempts this launcher reports, by container id;
	// reported are those whose end is out.
	mine     map[string]string
	reported map[string]bool
}

// New starts a launcher whose attempts' logs and ends live under dir.
// Close stops it.
func New(e Engine, bus Bus, dir string, opts ...Option) (*Launcher, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := &Launcher{e: e, dir: dir, log: slog.New(slog.DiscardHandler), grace: 30 * time.Second,
		ends: make(chan batch.AttemptEnd, 256), found: make(chan batch.AttemptFound, 256), mine: map[string]string{}, reported: map[string]bool{}}
	for _, o := range opts {
		o(l)
	}
	sub, err := bus.Subscribe(events.SubscribeOptions{Internal: true, Buffer: 4096, Filter: func(ev events.Event) bool {
		if ev.Type != events.TypeContainer || ev.Action != "die" {
			return false
		}
		_, ok := ev.Actor.Attributes[LabelAttempt]
		return ok
	}})
	if err != nil {
		return nil, err
	}
	l.sub = sub
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.listen(ctx)
	return l, nil
}

// Close stops listening to the bus.
func (l *Launcher) Close() {
	l.cancel()
	l.sub.Close()
}

// Ends implements batch.Launcher.
func (l *Launcher) Ends() <-chan batch.AttemptEnd { return l.ends }

// Found implements batch.Finder: the attempts Watch found running, with
// their container ids.
func (l *Launcher) Found() <-chan batch.AttemptFound { return l.found }

func (l *Launcher) listen(ctx context.Context) {
	for {
		ev, err := l.sub.Next(ctx)
		var lost *events.LostError
		switch {
		case errors.As(err, &lost):
			// Dies were missed: look at every attempt container.
			l.log.Warn("batch launcher: events were lost; checking every attempt's container", "lost", lost)
			l.sweep(ctx)
			continue
		case err != nil:
			return
		}
		go l.finish(ctx, ev.Actor.ID, ev.Actor.Attributes[LabelAttempt])
	}
}

// sweep finishes every attempt container that is not running.
func (l *Launcher) sweep(ctx context.Context) {
	for _, c := range l.e.List(ctx) {
		if aid, ok := c.Config.Labels[LabelAttempt]; ok && !c.State.Running() && c.State.Status != container.StatusCreated {
			go l.finish(ctx, c.ID, aid)
		}
	}
}

// Launch implements batch.Launcher.
func (l *Launcher) Launch(ctx context.Context, a batch.AttemptSpec) (string, error) {
	env := make([]string, 0, len(a.Environment))
	for _, kv := range a.Environment {
		env = append(env, kv.Name+"="+kv.Value)
	}
	o := container.CreateOptions{
		Name: namePrefix + a.ID,
		Config: container.Config{
			Image: a.Image, Cmd: a.Command, Env: env, User: a.User,
			Labels: map[string]string{LabelJob: a.JobID, LabelAttempt: a.ID},
		},
		HostConfig: container.HostConfig{
			NanoCPUs: int64(a.VCPUs * 1e9), Memory: int64(a.MemoryMiB) << 20, MemorySwap: int64(a.MemoryMiB) << 20,
			ReadonlyRootfs: a.ReadOnly,
		},
	}
	c, err := l.e.Create(ctx, o)
	if errdefs.IsNotFound(err) && l.images != nil {
		if perr := l.images.Pull(ctx, a.Image); perr != nil {
			return "", fmt.Errorf("CannotPullContainerError: %v", perr)
		}
		c, err = l.e.Create(ctx, o)
	}
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("CannotPullContainerError: %v", err)
		}
		return "", err
	}
	l.mu.Lock()
	l.mine[c.ID] = a.ID
	l.mu.Unlock()
	if err := l.e.Start(ctx, c.ID); err != nil {
		l.mu.Lock()
		delete(l.mine, c.ID)
		l.mu.Unlock()
		l.copyLog(context.Background(), c.ID, a.ID)
		_ = l.e.Remove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		return "", err
	}
	return c.ID, nil
}

// Stop implements batch.Launcher: SIGTERM, SIGKILL after the grace.
// Without a reference (Launch never answered) the attempt's container is
// found by its name, as Watch finds it; one that does not exist is gone.
func (l *Launcher) Stop(ctx context.Context, a batch.AttemptSpec, ref, reason string) error {
	if ref == "" {
		ref = namePrefix + a.ID
	}
	secs := int(l.grace / time.Second)
	err := l.e.Stop(ctx, ref, &secs, "")
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Watch implements batch.Launcher: the attempt's end on disk, its
// container, or its loss.
func (l *Launcher) Watch(ctx context.Context, a batch.AttemptSpec, ref string) error {
	if e, ok := l.readEnd(a.ID); ok {
		go func() { l.ends <- e }()
		return nil
	}
	c, err := l.e.Get(ctx, namePrefix+a.ID)
	if errdefs.IsNotFound(err) {
		go func() {
			l.ends <- batch.AttemptEnd{ID: a.ID, Ref: ref, StoppedAt: time.Now()}
		}()
		return nil
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.mine[c.ID] = a.ID
	l.mu.Unlock()
	if c.State.Status == container.StatusCreated {
		// The daemon died while starting it: whether its process ran is
		// not known (a start cut by a kill -9 may have run it), so it is
		// not started again. Its output, if any, is kept and the attempt
		// is reported lost: the retry strategy decides.
		go func() {
			l.copyLog(context.Background(), c.ID, a.ID)
			_ = l.e.Remove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			l.mu.Lock()
			delete(l.mine, c.ID)
			l.mu.Unlock()
			l.send(batch.AttemptEnd{ID: a.ID, Ref: c.ID, Reason: ReasonInterrupted, StoppedAt: time.Now()})
		}()
		return nil
	}
	if !c.State.Running() {
		go l.finish(context.Background(), c.ID, a.ID)
		return nil
	}
	select {
	case l.found <- batch.AttemptFound{ID: a.ID, Ref: c.ID, StartedAt: c.State.StartedAt}:
	default:
		l.log.Warn("batch launcher: an attempt's container was found but the manager is not listening", "attempt", a.ID, "container", c.ID)
	}
	return nil
}

// finish reports the end of a dead attempt container once: it copies
// its log, records the end, removes the container.
func (l *Launcher) finish(ctx context.Context, id, aid string) {
	l.mu.Lock()
	if l.reported[id] {
		l.mu.Unlock()
		return
	}
	if _, ok := l.mine[id]; !ok {
		// Not (yet) this launcher's: Launch or Watch claims it, or a
		// later sweep finds it. A die before Launch's bookkeeping is
		// rare; claim it here, the attempt id is on its label.
		l.mine[id] = aid
	}
	l.reported[id] = true
	l.mu.Unlock()
	c, err := l.e.Get(ctx, id)
	if err != nil {
		l.log.Warn("batch launcher: a dead attempt's container is gone", "container", id, "attempt", aid, "err", err)
		l.send(batch.AttemptEnd{ID: aid, Ref: id, StoppedAt: time.Now()})
		return
	}
	if c.State.Running() {
		// A die then a restart cannot happen (no restart policy), but be
		// safe: not an end.
		l.mu.Lock()
		delete(l.reported, id)
		l.mu.Unlock()
		return
	}
	code := c.State.ExitCode
	end := batch.AttemptEnd{ID: aid, Ref: id, ExitCode: &code, StartedAt: c.State.StartedAt, StoppedAt: c.State.FinishedAt}
	if c.State.OOMKilled {
		end.Reason = "OutOfMemoryError: Container killed due to memory usage"
	} else if c.State.Error != "" {
		end.Reason = "CannotStartContainerError: " + c.State.Error
	}
	l.copyLog(ctx, id, aid)
	if data, err := json.Marshal(end); err == nil {
		if err := atomicfile.WriteFile(filepath.Join(l.dir, aid+".end"), data, 0o600); err != nil {
			l.log.Warn("batch launcher: recording an attempt's end", "attempt", aid, "err", err)
		}
	}
	if err := l.e.Remove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		l.log.Warn("batch launcher: removing an attempt's container", "container", id, "err", err)
	}
	l.mu.Lock()
	delete(l.mine, id)
	delete(l.reported, id)
	l.mu.Unlock()
	l.send(end)
}

func (l *Launcher) send(e batch.AttemptEnd) { l.ends <- e }

func (l *Launcher) readEnd(aid string) (batch.AttemptEnd, bool) {
	data, err := os.ReadFile(filepath.Join(l.dir, aid+".end"))
	if err != nil {
		return batch.AttemptEnd{}, false
	}
	var e batch.AttemptEnd
	if json.Unmarshal(data, &e) != nil || e.ID != aid {
		return batch.AttemptEnd{}, false
	}
	return e, true
}

// copyLog copies a container's log into the attempt's file, replacing
// what an earlier copy (by a daemon killed halfway) left; an attempt that
// wrote nothing gets no file.
func (l *Launcher) copyLog(ctx context.Context, id, aid string) {
	final := filepath.Join(l.dir, aid+".log")
	tmp := final + ".copy"
	_ = os.Remove(tmp)
	var w *logfile.Writer
	err := l.e.Logs(ctx, id, container.LogsOptions{Stdout: true, Stderr: true, Tail: -1}, func(en logfile.Entry) error {
		if w == nil {
			var err error
			if w, err = logfile.Open(tmp, logfile.Limits{MaxSize: 64 << 20, MaxFiles: 1}); err != nil {
				return err
			}
		}
		return w.Write(en.Stream, []byte(en.Log), en.Time)
	})
	if w != nil {
		_ = w.Close()
		if err == nil {
			err = os.Rename(tmp, final)
		}
	}
	if err != nil && !errdefs.IsNotFound(err) {
		l.log.Warn("batch launcher: copying an attempt's log", "attempt", aid, "err", err)
	}
}

// Logs implements batch.LogReader: stream is <definition>/default/<attempt id>.
func (l *Launcher) Logs(ctx context.Context, stream string, each func(batch.LogEvent) error) error {
	aid := stream[strings.LastIndexByte(stream, '/')+1:]
	if aid == "" || strings.ContainsAny(aid, "./\\") {
		return fmt.Errorf("log stream %s: %w", stream, errdefs.ErrNotFound)
	}
	p := filepath.Join(l.dir, aid+".log")
	if _, err := os.Stat(p); err != nil {
		// Running still: read the container's log.
		if c, gerr := l.e.Get(ctx, namePrefix+aid); gerr == nil {
			return l.e.Logs(ctx, c.ID, container.LogsOptions{Stdout: true, Stderr: true, Tail: -1}, func(en logfile.Entry) error {
				return each(batch.LogEvent{Time: en.Time, Message: strings.TrimSuffix(en.Log, "\n")})
			})
		}
		if _, err := os.Stat(filepath.Join(l.dir, aid+".end")); err == nil {
			return nil // ended without output
		}
		return fmt.Errorf("log stream %s: %w", stream, errdefs.ErrNotFound)
	}
	return logfile.Read(ctx, p, logfile.ReadOptions{Stdout: true, Stderr: true, Tail: -1}, func(en logfile.Entry) error {
		return each(batch.LogEvent{Time: en.Time, Message: strings.TrimSuffix(en.Log, "\n")})
	})
}

// Interface checks.
var (
	_ batch.Launcher  = (*Launcher)(nil)
	_ batch.Finder    = (*Launcher)(nil)
	_ batch.LogReader = (*Launcher)(nil)
)
