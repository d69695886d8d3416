package runtimeapi

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one sandbox's runtime can make the daemon hold.
type Limits struct {
	// MaxConns is the most connections open at once. A runtime needs one
	// for `next` and one for a result, and a few more do no harm; at the
	// cap, a new connection replaces the one idle the longest, or is
	// closed at once when none is idle.
	MaxConns int
	// HeaderTimeout bounds the arrival of a request's headers, from its
	// first byte (or from the connection's start).
	HeaderTimeout time.Duration
	// BodyTimeout bounds the reading of a posted body, from its handler's
	// start.
	BodyTimeout time.Duration
	// WriteTimeout bounds the writing of an event to `next` once there is
	// one. The wait for it has no bound: it is the runtime's long poll.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. It is longer than a sandbox stays frozen between invocations
	// (the daemon's --fn-idle-timeout reaps it first), so that a runtime
	// frozen between a result and its next `next` finds its connection
	// still open.
	IdleTimeout time.Duration
}

// DefaultLimits are the limits of every sandbox.
var DefaultLimits = Limits{
	MaxConns:      8,
	HeaderTimeout: 10 * time.Second,
	BodyTimeout:   30 * time.Second,
	WriteTimeout:  30 * time.Second,
	IdleTimeout:   30 * time.Minute,
}

// Serve serves h (the Server itself, or a handler in front of it) on l
// with the Server's limits, until the returned http.Server is closed.
//
// http.Server's own ReadTimeout and WriteTimeout are not used: both run
// from the start of a request, so they would end the runtime's long poll
// of `next` (ReadTimeout even cancels its context through the server's
// background read). The handlers set per-request deadlines instead.
func (s *Server) Serve(l net.Listener, h http.Handler) *http.Server {
	if h == nil {
		h = s
	}
	// A body no handler reads (an unknown path's) is still drained by the
	// server for keep-alive: its read gets the same bound as one a
	// handler reads. A request without a body gets none, as a deadline
	// would end the long poll of next.
	bounded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
	cl := &capListener{Listener: l, max: s.limits.MaxConns, conns: map[net.Conn]*connState{}}
	s.capl.Store(cl)
	srv := &http.Server{
		Handler:           bounded,
		ReadHeaderTimeout: s.limits.HeaderTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		// Runtime API requests carry a few short headers.
		MaxHeaderBytes: 64 << 10,
		ConnState:      cl.track,
	}
	go func() { _ = srv.Serve(cl) }()
	return srv
}

// capListener caps the connections open at once (see Limits.MaxConns).
type capListener struct {
	net.Listener
	max   int
	mu    sync.Mutex
	conns map[net.Conn]*connState
}

type connState struct {
	idle      bool
	idleSince time.Time
}

// Accept returns the next connection that fits under the cap.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
		_ = c.Close()
	}
}

// admit counts c in, making room by closing the connection idle the
// longest when at the cap; it reports false when there is no room.
func (l *capListener) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && len(l.conns) >= l.max {
		var oldest net.Conn
		var since time.Time
		for oc, st := range l.conns {
			if st.idle && (oldest == nil || st.idleSince.Before(since)) {
				oldest, since = oc, st.idleSince
			}
		}
		if oldest == nil {
			return false
		}
		delete(l.conns, oldest)
		_ = oldest.Close()
	}
	l.conns[c] = &connState{}
	return true
}

// counts returns how many connections are open and how many of them
// idle, as the cap sees them.
func (l *capListener) counts() (open, idle int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.conns {
		if st.idle {
			idle++
		}
	}
	return len(l.conns), idle
}

// track follows the server's view of each connection.
func (l *capListener) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	case http.StateIdle:
		if st := l.conns[c]; st != nil {
			st.idle, st.idleSince = true, time.Now()
		}
	case http.StateActive:
		if st := l.conns[c]; st != nil {
			st.idle = false
		}
	}
}
