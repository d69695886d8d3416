// Package natsbox is the daemon's NATS: an embedded nats-server with
// JetStream, its store under the daemon's root, or a connection to an
// external server (--nats-url), and, either way, the one connection the
// daemon's parts share: the functions' queue of asynchronous invocations
// today, the registry's notifications and the clusters' state next.
//
// The embedded server listens on no port: the daemon reaches it in-process
// (nats.InProcessServer), so nothing outside the daemon can. All its
// options are made in one place (serverOptions).
//
// A cluster manager runs a second embedded server (Options.Cluster, see
// cluster.go): clustered with the other managers' over routes, JetStream
// in clustered mode, and a client port for the agents of worker nodes;
// every route and client connection is mutual TLS with the cluster's
// certificates.
//
// On disk, under the daemon's --root:
//
//	nats/jetstream/   the embedded server's JetStream store (streams,
//	                  consumers); older daemons kept it at
//	                  functions/jetstream/jetstream/ (AdoptStore)
package natsbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wharf-dev/wharf/errdefs"
)

// Options say which NATS the daemon uses.
type Options struct {
	// URL is an external NATS server with JetStream; "" runs the
	// embedded one.
	URL string
	// StoreDir is the embedded server's store directory (JetStream keeps
	// its data in StoreDir/jetstream).
	StoreDir string
	// Name is the client connection's name, as servers list it.
	Name string
	// StartTimeout bounds the embedded server's start (default 10 s).
	StartTimeout time.Duration
	Log          *slog.Logger
	// Cluster, when set, makes the embedded server a cluster manager's
	// (cluster.go).
	Cluster *Cluster
}

// Box is the daemon's NATS connection, and the embedded server behind it
// if there is one.
type Box struct {
	srv *server.Server // nil with an external server
	nc  *nats.Conn
}

// Start starts the embedded server, or connects to o.URL, and returns the
// connection to share. Close stops both.
func Start(o Options) (*Box, error) {
	if o.Name == "" {
		o.Name = "wharf-daemon"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	b := &Box{}
	if o.URL != "" {
		nc, err := nats.Connect(o.URL, nats.Name(o.Name))
		if err != nil {
			return nil, fmt.Errorf("connecting to NATS at %s: %v: %w", o.URL, err, errdefs.ErrUnavailable)
		}
		b.nc = nc
		o.Log.Info("using an external NATS server", "url", o.URL)
		return b, nil
	}
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded NATS: no store directory: %w", errdefs.ErrInvalidArgument)
	}
	if o.Cluster != nil {
		if err := o.Cluster.Validate(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	srv, err := server.NewServer(serverOptions(o))
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(o.StartTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded NATS did not start within %v: %w", o.StartTimeout, errdefs.ErrUnavailable)
	}
	b.srv = srv
	b.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Name(o.Name))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connecting to the embedded NATS: %v: %w", err, errdefs.ErrUnavailable)
	}
	return b, nil
}

// serverOptions are the embedded server's options, all of them.
func serverOptions(o Options) *server.Options {
	so := &server.Options{
		ServerName: "wharf",
		JetStream:  true,
		StoreDir:   o.StoreDir,
		// In-process only: no client port, no monitoring port.
		DontListen: true,
		// The daemon handles signals and logs itself.
		NoSigs: true,
		NoLog:  true,
	}
	if o.Cluster != nil {
		o.Cluster.apply(so)
	}
	return so
}

// Server is the embedded server, nil with an external one.
func (b *Box) Server() *server.Server { return b.srv }

// Conn is the connection the daemon's parts share. It stays the Box's:
// users stop what they started on it (subscriptions, consumers) and leave
// it open.
func (b *Box) Conn() *nats.Conn { return b.nc }

// Embedded reports whether the server is the daemon's own.
func (b *Box) Embedded() bool { return b.srv != nil }

// Close flushes and closes the connection, then shuts the embedded server
// down and waits for it (its store is consistent on disk afterwards).
func (b *Box) Close() {
	if b.nc != nil {
		_ = b.nc.FlushTimeout(time.Second)
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// AdoptStore moves the store of an embedded server that an older daemon
// kept at old to dir, so that what it holds (queued events, failures) is
// kept, unless dir already exists (or old does not).
func AdoptStore(old, dir string) error {
	if _, err := os.Lstat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := os.Lstat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return os.Rename(old, dir)
}
