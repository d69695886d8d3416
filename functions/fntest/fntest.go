// Package fntest builds the real functions engine for the tests of what
// sits on it (the Lambda API, the CLI, the native API) and for the
// engine's own black-box tests: functions/invoke over the in-process
// launcher (functions/sandbox/inproc, whose sandboxes speak the real
// Runtime API), a store in a temporary directory, an in-memory image store
// (Images), and the real queue of asynchronous invocations on an embedded
// NATS. Nothing in it needs root, and everything it starts is stopped by
// the test's cleanup.
package fntest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/functions/async"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/internal/natsbox"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// Env is a running engine and what it runs on.
type Env struct {
	Engine   *invoke.Engine
	Launcher *inproc.Launcher
	Images   *Images
	// Queue is the queue of asynchronous invocations (nil WithoutQueue).
	Queue *async.Queue
	// Root is the engine's store.
	Root string

	t         testing.TB
	nb        *natsbox.Box
	closeOnce sync.Once
}

type config struct {
	code    func(sandbox.Spec) (inproc.Function, error)
	engine  []invoke.Option
	async   []async.Option
	noQueue bool
	root    string
	images  *Images
}

// Option configures an Env.
type Option func(*config)

// WithHandler makes every function run h (the default is inproc.Echo).
func WithHandler(h inproc.Handler) Option {
	return WithFunctions(func(sandbox.Spec) (inproc.Function, error) { return inproc.Function{Handler: h}, nil })
}

// WithFunctions says what each sandbox runs, from its spec.
func WithFunctions(code func(sandbox.Spec) (inproc.Function, error)) Option {
	return func(c *config) { c.code = code }
}

// WithEngineOptions passes options to invoke.New.
func WithEngineOptions(opts ...invoke.Option) Option {
	return func(c *config) { c.engine = append(c.engine, opts...) }
}

// WithAsyncOptions passes options to async.Open (e.g. short back-offs).
func WithAsyncOptions(opts ...async.Option) Option {
	return func(c *config) { c.async = append(c.async, opts...) }
}

// WithoutQueue runs the engine without a queue: Event invocations are
// refused, as by a daemon whose NATS is down.
func WithoutQueue() Option { return func(c *config) { c.noQueue = true } }

// WithImages gives the engine images as its image store (the default is
// an empty one, Env.Images).
func WithImages(images *Images) Option { return func(c *config) { c.images = images } }

// WithRoot opens the engine's store at root (to open it again after a
// Close) instead of a new temporary directory.
func WithRoot(root string) Option { return func(c *config) { c.root = root } }

// New starts an engine; the test's cleanup stops it and checks that it
// left no sandbox running.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := &config{}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.code == nil {
		WithHandler(inproc.Echo)(cfg)
	}
	if cfg.root == "" {
		cfg.root = filepath.Join(t.TempDir(), "functions")
	}
	if cfg.images == nil {
		cfg.images = NewImages()
	}
	env := &Env{Launcher: inproc.New(cfg.code), Images: cfg.images, Root: cfg.root, t: t}
	engineOpts := append([]invoke.Option{invoke.WithImages(env.Images)}, cfg.engine...)
	if !cfg.noQueue {
		nb, err := natsbox.Start(natsbox.Options{StoreDir: filepath.Join(t.TempDir(), "nats")})
		if err != nil {
			t.Fatal(err)
		}
		env.nb = nb
		env.Queue, err = async.Open(context.Background(), nb.Conn(), cfg.async...)
		if err != nil {
			nb.Close()
			t.Fatal(err)
		}
		engineOpts = append(engineOpts, invoke.WithQueue(env.Queue))
	}
	e, err := invoke.New(cfg.root, env.Launcher, engineOpts...)
	if err != nil {
		if env.nb != nil {
			env.nb.Close()
		}
		t.Fatal(err)
	}
	env.Engine = e
	if env.Queue != nil {
		if err := env.Queue.Start(e); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(env.Close)
	return env
}

// Close stops the queue, the engine and NATS, and checks that the engine
// left no sandbox running; the test's cleanup calls it, and a test may
// call it before (to open the store again).
func (env *Env) Close() {
	env.closeOnce.Do(func() {
		if env.Queue != nil {
			env.Queue.Close()
		}
		env.Engine.Close()
		if env.nb != nil {
			env.nb.Close()
		}
		if n := env.Launcher.Live(); n != 0 {
			env.t.Errorf("the engine left %d sandboxes running", n)
		}
	})
}

// Zip returns a zip package with an executable bootstrap: what the engine
// asks of a zip function, whose code the in-process runtime then plays.
func Zip(t testing.TB) []byte {
	t.Helper()
	return testutil.ZipOf(t, map[string][]byte{"bootstrap": []byte("#!/bin/sh\n")}, map[string]bool{"bootstrap": true})
}
