package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/batch/clusterlaunch"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/batchapi"
)

// A cluster's Batch: its tables live in the cluster's JetStream (the
// store of cluster/state, R3 with three managers), its attempts run as
// cluster tasks (batch/clusterlaunch), and one Manager runs, on the
// manager that leads the JetStream meta group (the controller's signal).
// A manager that becomes leader Loads the tables and takes over the
// attempts under way (the launcher finds their tasks); one that stops
// leading stops its Manager.
//
// The Manager keeps the jobs in memory and is the only writer of the
// tables, so the API cannot be served from the tables by any node: every
// other node forwards Batch's calls (the AWS-shaped ones on --http and
// `wharf batch` on the socket) to the leader over the cluster's NATS,
// request and reply on batchForwardSubject, which only the leader
// subscribes to. That is the simplest correct choice: one code path for
// every decision, no second reader of the tables to keep in step, and a
// call reaches the manager whose memory is current. A signed call is
// forwarded as it came (method, URI, Host, headers, body), so the
// leader's key store verifies its signature; with no leader (an
// election) the call is answered 503 and the SDKs retry it.

// batchForwardSubject carries forwarded Batch calls to the leader.
const batchForwardSubject = "wharf.batch.forward"

// Headers of a forwarded call and its answer; the call's own headers go
// with a prefix.
const (
	fwdKind    = "Wharf-Fwd-Kind" // "api" or "native"
	fwdMethod  = "Wharf-Fwd-Method"
	fwdURI     = "Wharf-Fwd-Uri"
	fwdHost    = "Wharf-Fwd-Host"
	fwdStatus  = "Wharf-Fwd-Status"
	fwdPrefix  = "Http-"
	fwdTimeout = 60 * time.Second
	// fwdConcurrency bounds the forwarded calls the leader serves at once.
	fwdConcurrency = 64
	// leadCheck is how often a manager checks whether it leads.
	leadCheck = 500 * time.Millisecond
	// loadTimeout bounds a new leader's first read of Batch's tables.
	loadTimeout = 5 * time.Second
)

// clusterBatch is Batch on a cluster node.
type clusterBatch struct {
	cl     *clusterRuntime
	nc     *nats.Conn
	cfg    batchConfig
	keys   *identity.Keys
	log    *slog.Logger
	cancel context.CancelFunc

	mu  sync.Mutex
	cur *batchTerm
}

// batchTerm is this node's Manager while it leads.
type batchTerm struct {
	m      *batch.Manager
	l      *clusterlaunch.Launcher
	api    http.Handler
	native http.Handler
	sub    *nats.Subscription
	cancel context.CancelFunc
}

// startClusterBatch starts Batch on a cluster node: a manager runs the
// leadership loop, every node serves (or forwards) the API.
func startClusterBatch(c batchConfig, cl *clusterRuntime, keys *identity.Keys, log *slog.Logger) *clusterBatch {
	b := &clusterBatch{cl: cl, nc: cl.node.Conn, cfg: c, keys: keys, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if cl.node.M.Manager {
		go b.lead(ctx)
	}
	return b
}

// lead starts a term when this manager leads and ends it when it stops.
func (b *clusterBatch) lead(ctx context.Context) {
	probe := &nodeProbe{n: b.cl.node}
	t := time.NewTicker(leadCheck)
	defer t.Stop()
	failures := 0
	for {
		leads := probe.Leader()
		b.mu.Lock()
		cur := b.cur
		b.mu.Unlock()
		switch {
		case leads && cur == nil:
			// Right after an election the buckets' own leaders may not be
			// elected yet and reads of them wait: a short first try,
			// longer ones after.
			term, err := b.startTerm(ctx, min(loadTimeout<<min(failures, 4), time.Minute))
			if err != nil {
				failures++
				b.log.Warn("batch: taking over as the cluster's Batch manager", "err", err, "tries", failures)
				break
			}
			failures = 0
			b.mu.Lock()
			b.cur = term
			b.mu.Unlock()
			b.log.Info("batch: this manager leads; Batch runs here")
		case !leads && cur != nil:
			b.mu.Lock()
			b.cur = nil
			b.mu.Unlock()
			cur.stop()
			b.log.Info("batch: this manager no longer leads; Batch stopped here")
		}
		select {
		case <-ctx.Done():
			b.mu.Lock()
			cur := b.cur
			b.cur = nil
			b.mu.Unlock()
			if cur != nil {
				cur.stop()
			}
			return
		case <-t.C:
		}
	}
}

// startTerm loads Batch's tables and starts the Manager on them.
func (b *clusterBatch) startTerm(ctx context.Context, timeout time.Duration) (*batchTerm, error) {
	l := clusterlaunch.New(clusterlaunch.FromTasks(b.cl.tasks, 0), clusterlaunch.WithLogger(b.log), clusterlaunch.WithStopGrace(b.cfg.stopGrace))
	m := batch.New(b.cl.store, l, batch.WithLogger(b.log), batch.WithMinTimeout(b.cfg.minTimeout), batch.WithRetention(b.cfg.retention))
	lctx, lcancel := context.WithTimeout(ctx, timeout)
	defer lcancel()
	if err := m.Load(lctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("loading Batch's state: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	t := &batchTerm{m: m, l: l, cancel: cancel, native: batchapi.Native(m, clusterlaunch.LogReader(b.cl.store)),
		api: batchapi.New(m, b.keys, batchapi.WithLogger(b.log), batchapi.WithAccount(functions.DefaultRegion, functions.DefaultAccount),
			batchapi.WithTaskARN(func(ref string) string { return tasks.TaskARN(clusterlaunch.DefaultCluster, ref) }))}
	sub, err := b.serve(rctx, t)
	if err != nil {
		cancel()
		l.Close()
		return nil, err
	}
	t.sub = sub
	go m.Run(rctx)
	return t, nil
}

// serve answers the calls other nodes forward with t's handlers.
func (b *clusterBatch) serve(ctx context.Context, t *batchTerm) (*nats.Subscription, error) {
	sem := make(chan struct{}, fwdConcurrency)
	return b.nc.Subscribe(batchForwardSubject, func(msg *nats.Msg) {
		select {
		case sem <- struct{}{}:
		default:
			b.reply(msg, http.StatusServiceUnavailable, nil, []byte(`{"message":"too many forwarded Batch calls; retry"}`))
			return
		}
		go func() {
			defer func() { <-sem }()
			b.serveForwarded(ctx, t, msg)
		}()
	})
}

func (t *batchTerm) stop() {
	_ = t.sub.Unsubscribe()
	t.cancel()
	t.l.Close()
}

func (b *clusterBatch) close() {
	b.cancel()
}

// term is the running term, nil on a node that does not lead.
func (b *clusterBatch) term() *batchTerm {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// manager is the leader's Manager here, nil elsewhere.
func (b *clusterBatch) manager() *batch.Manager {
	if t := b.term(); t != nil {
		return t.m
	}
	return nil
}

// handler serves kind's calls here while this node leads, else forwards
// them to the leader.
func (b *clusterBatch) handler(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := b.term(); t != nil {
			t.handler(kind).ServeHTTP(w, r)
			return
		}
		b.forward(kind, w, r)
	})
}

func (t *batchTerm) handler(kind string) http.Handler {
	if kind == "native" {
		return t.native
	}
	return t.api
}

// forward sends a call to the leader and writes its answer.
func (b *clusterBatch) forward(kind string, w http.ResponseWriter, r *http.Request) {
	nc := b.nc
	limit := nc.MaxPayload() - 64<<10
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeFwdError(w, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	if int64(len(body)) > limit {
		writeFwdError(w, http.StatusRequestEntityTooLarge, "the request is too large to forward to the cluster's Batch manager")
		return
	}
	msg := nats.NewMsg(batchForwardSubject)
	msg.Data = body
	msg.Header.Set(fwdKind, kind)
	msg.Header.Set(fwdMethod, r.Method)
	msg.Header.Set(fwdURI, r.URL.RequestURI())
	msg.Header.Set(fwdHost, r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			msg.Header.Add(fwdPrefix+k, v)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), fwdTimeout)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			writeFwdError(w, http.StatusServiceUnavailable, "no manager leads the cluster's Batch now; retry")
			return
		}
		writeFwdError(w, http.StatusBadGateway, "forwarding to the cluster's Batch manager: "+err.Error())
		return
	}
	status, _ := strconv.Atoi(resp.Header.Get(fwdStatus))
	if status == 0 {
		status = http.StatusBadGateway
	}
	for k, vs := range resp.Header {
		if name, ok := strings.CutPrefix(k, fwdPrefix); ok {
			for _, v := range vs {
				w.Header().Add(name, v)
			}
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Data)
}

func writeFwdError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"message\":%q}\n", msg)
}

// serveForwarded serves a forwarded call with the term's handlers.
func (b *clusterBatch) serveForwarded(ctx context.Context, t *batchTerm, msg *nats.Msg) {
	ctx, cancel := context.WithTimeout(ctx, fwdTimeout)
	defer cancel()
	kind := msg.Header.Get(fwdKind)
	req, err := http.NewRequestWithContext(ctx, msg.Header.Get(fwdMethod), msg.Header.Get(fwdURI), bytes.NewReader(msg.Data))
	if err != nil || (kind != "api" && kind != "native") {
		b.reply(msg, http.StatusBadRequest, nil, []byte(`{"message":"a malformed forwarded call"}`))
		return
	}
	req.RequestURI = msg.Header.Get(fwdURI)
	req.Host = msg.Header.Get(fwdHost)
	req.ContentLength = int64(len(msg.Data))
	for k, vs := range msg.Header {
		if name, ok := strings.CutPrefix(k, fwdPrefix); ok {
			for _, v := range vs {
				req.Header.Add(name, v)
			}
		}
	}
	limit := b.nc.MaxPayload() - 64<<10
	rw := &bufferedResponse{header: http.Header{}, limit: int(limit)}
	t.handler(kind).ServeHTTP(rw, req)
	if rw.over {
		b.reply(msg, http.StatusBadGateway, nil, []byte(`{"message":"the answer is too large to forward from the cluster's Batch manager"}`))
		return
	}
	b.reply(msg, rw.status, rw.header, rw.body.Bytes())
}

func (b *clusterBatch) reply(msg *nats.Msg, status int, h http.Header, body []byte) {
	out := nats.NewMsg(msg.Reply)
	if status == 0 {
		status = http.StatusOK
	}
	out.Header.Set(fwdStatus, strconv.Itoa(status))
	for k, vs := range h {
		for _, v := range vs {
			out.Header.Add(fwdPrefix+k, v)
		}
	}
	out.Data = body
	if err := msg.RespondMsg(out); err != nil {
		b.log.Warn("batch: answering a forwarded call", "err", err)
	}
}

// bufferedResponse holds a handler's answer, up to limit bytes.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int
	over   bool
}

func (r *bufferedResponse) Header() http.Header { return r.header }

func (r *bufferedResponse) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *bufferedResponse) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(p) > r.limit {
		r.over = true
		return 0, errors.New("answer too large to forward")
	}
	return r.body.Write(p)
}

// Flush is a no-op: the answer goes whole.
func (r *bufferedResponse) Flush() {}
