package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wharf-dev/wharf/errdefs"
)

// The exec terminal: GET /console/api/containers/{name}/exec upgrades to
// a WebSocket that bridges the page's terminal to a shell run in the
// container with a TTY, through the Docker API's handler as `docker exec
// -it NAME sh` does (POST /containers/{name}/exec, then POST
// /exec/{id}/start taken over as a raw stream, POST /exec/{id}/resize).
//
// Protocol. The handshake needs the session's cookie and the console's
// own Origin (a browser always sends one on a WebSocket; another site's
// page is refused before the upgrade, which stops cross-site WebSocket
// hijacking). The page's first message must be
//
//	{"csrf": "<the session's CSRF token>", "cols": 80, "rows": 24}
//
// within termHelloWait; only then is the shell started. After it, the
// page sends text messages {"i": "<keys>"} (input) and {"cols": C,
// "rows": R} (resize); the server sends the terminal's output as binary
// messages and, when the shell ends, a text message {"exit": code}
// before closing.
//
// Bounds: termsPerContainer terminals per session and container,
// termsPerSession per session, maxTerms in the daemon; a terminal with
// no input for termIdle closes, and so does one whose session ends (sign
// out, expiry, a revoked key) within termCheck. A closed terminal sends
// the shell ^C and ^D, which end a shell at its prompt; its slot is
// freed when the exec has ended (a program that ignores both keeps the
// slot until it exits).

// Bounds of exec terminals.
const (
	termsPerContainer = 2
	termsPerSession   = 8
	maxTerms          = 64
	termIdle          = 15 * time.Minute
	termCheck         = 15 * time.Second
	termHelloWait     = 10 * time.Second
	// maxTermMessage bounds a message from the page (a paste).
	maxTermMessage = 64 << 10
	// termEndWait is how long a closed terminal's exec is given to end
	// before its slot is freed on its end only.
	termEndWait = 5 * time.Second
	// termShell is what a terminal runs.
	termShell = "sh"
)

// termHello is the page's first message.
type termHello struct {
	CSRF string `json:"csrf"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

// termInput is every later message from the page.
type termInput struct {
	Input *string `json:"i,omitempty"`
	Cols  int     `json:"cols,omitempty"`
	Rows  int     `json:"rows,omitempty"`
}

// terminals counts the live terminals by session and container.
type terminals struct {
	mu     sync.Mutex
	total  int
	bySess map[string]int
	byCtr  map[[2]string]int
}

func newTerminals() *terminals {
	return &terminals{bySess: map[string]int{}, byCtr: map[[2]string]int{}}
}

// acquire takes a slot for session sess and container ctr, or fails with
// ErrUnavailable past a bound.
func (t *terminals) acquire(sess, ctr string) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]string{sess, ctr}
	switch {
	case t.byCtr[k] >= termsPerContainer:
		return nil, fmt.Errorf("%d terminals into %s are open in this session already: close one: %w", termsPerContainer, ctr, errdefs.ErrUnavailable)
	case t.bySess[sess] >= termsPerSession:
		return nil, fmt.Errorf("%d terminals are open in this session already: close one: %w", termsPerSession, errdefs.ErrUnavailable)
	case t.total >= maxTerms:
		return nil, fmt.Errorf("the daemon has %d console terminals open: %w", maxTerms, errdefs.ErrUnavailable)
	}
	t.total++
	t.bySess[sess]++
	t.byCtr[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.total--
			if t.bySess[sess]--; t.bySess[sess] <= 0 {
				delete(t.bySess, sess)
			}
			if t.byCtr[k]--; t.byCtr[k] <= 0 {
				delete(t.byCtr, k)
			}
		})
	}, nil
}

// sessionKey names the request's session for the terminal bounds (the
// hash of its cookie: the cookie itself is kept nowhere).
func sessionKey(r *http.Request) string {
	ck, _ := r.Cookie(cookieName)
	if ck == nil {
		return ""
	}
	h := hashToken(ck.Value)
	return string(h[:])
}

func (s *Server) execTerminal(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.docker == nil {
		return fmt.Errorf("this daemon's console has no Docker API: %w", errdefs.ErrNotImplemented)
	}
	// A browser sends its page's Origin on every WebSocket handshake;
	// one from another site, or none, is refused before the upgrade.
	if r.Header.Get("Origin") == "" || !sameOrigin(r) {
		return fmt.Errorf("a terminal is opened from the console's own page only (Origin %q): %w", r.Header.Get("Origin"), errdefs.ErrForbidden)
	}
	ref := r.PathValue("name")
	name := s.resource(r.Context(), r, dockerRoute{resource: "name", container: true})
	for _, action := range []string{"ContainerExecCreate", "ContainerExecAttach"} {
		if err := c.allow(dockerService, action, name); err != nil {
			return err
		}
	}
	sessKey := sessionKey(r)
	release, err := s.terms.acquire(sessKey, name)
	if err != nil {
		return err
	}
	// The slot is freed when the exec has ended (below), or here when no
	// exec started.
	started := false
	defer func() {
		if !started {
			release()
		}
	}()
	// The terminal lasts as long as the page: no deadline on the
	// connection the server may have set for requests.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		// Accept answered the request.
		return nil
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxTermMessage)

	ctx := r.Context()
	hctx, cancel := context.WithTimeout(ctx, termHelloWait)
	var hello termHello
	typ, data, err := ws.Read(hctx)
	cancel()
	if err != nil {
		return nil
	}
	if typ != websocket.MessageText || json.Unmarshal(data, &hello) != nil || !CheckCSRF(c.sess, hello.CSRF) {
		ws.Close(websocket.StatusPolicyViolation, "missing or wrong CSRF token")
		return nil
	}
	cols, rows := termSize(hello.Cols, 80), termSize(hello.Rows, 24)

	// A shell that cannot start (the container stopped) closes the
	// terminal with the Docker API's reason.
	execID, err := s.execCreate(ctx, r, ref, cols, rows)
	if err != nil {
		ws.Close(websocket.StatusInternalError, closeReason(err))
		return nil
	}
	stream, done, err := s.execStart(r, execID, cols, rows)
	if err != nil {
		ws.Close(websocket.StatusInternalError, closeReason(err))
		return nil
	}
	started = true
	s.log.Info("console terminal opened", "principal", c.sess.Principal.String(), "container", name, "exec", execID)
	go func() {
		// The slot is the exec's: freed once it ended, whatever the page
		// did.
		<-done
		release()
	}()
	s.bridge(ctx, ws, stream, done, r, execID)
	s.log.Info("console terminal closed", "principal", c.sess.Principal.String(), "container", name, "exec", execID)
	return nil
}

// termSize is a terminal dimension from the page, bounded (def when
// absent).
func termSize(v, def int) int {
	if v <= 0 {
		return def
	}
	return min(v, 1000)
}

// closeReason is err as a WebSocket close reason (at most 123 bytes).
func closeReason(err error) string {
	msg := err.Error()
	var se *statusError
	if errors.As(err, &se) {
		msg = se.msg
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// bridge copies between the page and the exec's stream until either
// ends, the terminal idles past termIdle or the session ends.
func (s *Server) bridge(ctx context.Context, ws *websocket.Conn, stream *execStream, done <-chan struct{}, r *http.Request, execID string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		buf := make([]byte, 32<<10)
		for {
			n, err := stream.Read(buf)
			if n > 0 {
				if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
					// The page is gone: drain, so that the shell is
					// never blocked on its output.
					_, _ = io.Copy(io.Discard, stream)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()

	inputs := make(chan termInput)
	readErr := make(chan error, 1)
	go func() {
		for {
			typ, data, err := ws.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			var in termInput
			if typ != websocket.MessageText || json.Unmarshal(data, &in) != nil {
				readErr <- fmt.Errorf("a message that is not the terminal's: %w", errdefs.ErrInvalidArgument)
				return
			}
			select {
			case inputs <- in:
			case <-ctx.Done():
				return
			}
		}
	}()

	idle := time.NewTimer(termIdle)
	defer idle.Stop()
	check := time.NewTicker(s.termCheck)
	defer check.Stop()
	ended := func(code websocket.StatusCode, why string) {
		ws.Close(code, why)
	}
	for {
		select {
		case in := <-inputs:
			if in.Input != nil {
				if _, err := io.WriteString(stream, *in.Input); err != nil {
					ended(websocket.StatusNormalClosure, "the shell ended")
					s.hangUp(stream, done)
					return
				}
				idle.Reset(termIdle)
			}
			if in.Cols > 0 && in.Rows > 0 {
				s.execResize(ctx, r, execID, termSize(in.Cols, 80), termSize(in.Rows, 24))
			}
		case <-outDone:
			// The shell ended: its exit code, then a normal close.
			select {
			case <-done:
			case <-time.After(termEndWait):
			}
			if code, ok := s.execExitCode(ctx, r, execID); ok {
				_ = ws.Write(ctx, websocket.MessageText, []byte(`{"exit":`+strconv.Itoa(code)+`}`))
			}
			ended(websocket.StatusNormalClosure, "the shell ended")
			return
		case <-readErr:
			// The page closed the terminal (or broke the protocol).
			s.hangUp(stream, done)
			return
		case <-idle.C:
			ended(websocket.StatusGoingAway, fmt.Sprintf("no input for %s: the terminal closed", termIdle))
			s.hangUp(stream, done)
			return
		case <-check.C:
			if !s.sessionLive(r) {
				ended(websocket.StatusPolicyViolation, "the session ended")
				s.hangUp(stream, done)
				return
			}
		}
	}
}

// hangUp ends a shell whose terminal closed: ^C ends what runs in the
// foreground, ^D the shell at its prompt; then its input closes.
func (s *Server) hangUp(stream *execStream, done <-chan struct{}) {
	_, _ = io.WriteString(stream, "\x03")
	time.Sleep(50 * time.Millisecond)
	_, _ = io.WriteString(stream, "\x04")
	select {
	case <-done:
	case <-time.After(termEndWait):
	}
	_ = stream.Close()
}

// sessionLive reports whether the request's session is still signed in
// and its key not revoked.
func (s *Server) sessionLive(r *http.Request) bool {
	ck, _ := r.Cookie(cookieName)
	if ck == nil {
		return false
	}
	sess, err := s.sessions.Get(ck.Value)
	if err != nil {
		return false
	}
	if sess.Root() {
		return true
	}
	_, ok := s.keys.Statements(sess.KeyID)
	return ok
}

// execCreate creates the terminal's exec with the Docker API and returns
// its id.
func (s *Server) execCreate(ctx context.Context, r *http.Request, ref string, cols, rows int) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": true,
		"Env": []string{"TERM=xterm"}, "Cmd": []string{termShell}, "ConsoleSize": [2]int{rows, cols},
	})
	rec, err := s.dockerCall(ctx, r, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/exec", "", body)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(rec.body.Bytes(), &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("the Docker API answered no exec id: %w", errdefs.ErrUnavailable)
	}
	return out.ID, nil
}

// execResize resizes the exec's terminal (best effort: a shell that
// ended has none).
func (s *Server) execResize(ctx context.Context, r *http.Request, id string, cols, rows int) {
	q := url.Values{"h": {strconv.Itoa(rows)}, "w": {strconv.Itoa(cols)}}
	_, _ = s.dockerCall(ctx, r, http.MethodPost, "/exec/"+url.PathEscape(id)+"/resize", q.Encode(), nil)
}

// execExitCode is the ended exec's exit code.
func (s *Server) execExitCode(ctx context.Context, r *http.Request, id string) (int, bool) {
	rec, err := s.dockerCall(ctx, r, http.MethodGet, "/exec/"+url.PathEscape(id)+"/json", "", nil)
	if err != nil {
		return 0, false
	}
	var out struct{ ExitCode *int }
	if json.Unmarshal(rec.body.Bytes(), &out) != nil || out.ExitCode == nil {
		return 0, false
	}
	return *out.ExitCode, true
}

// dockerCall makes one plain call to the Docker API's handler and gives
// its answer, or its error when it answered one.
func (s *Server) dockerCall(ctx context.Context, r *http.Request, method, path, rawQuery string, body []byte) (*recorder, error) {
	u := &url.URL{Path: path, RawQuery: rawQuery}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	req.RemoteAddr, req.Host = r.RemoteAddr, "console"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	s.docker.ServeHTTP(rec, req)
	if rec.status >= 300 {
		return nil, rec.err()
	}
	return rec, nil
}

// recorder is the ResponseWriter of a plain call to an API's handler;
// it keeps at most max bytes of the answer (0: 1 MiB).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	max    int
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	max := w.max
	if max == 0 {
		max = 1 << 20
	}
	if w.body.Len()+len(p) > max {
		return 0, fmt.Errorf("an answer larger than %d bytes: %w", max, errdefs.ErrInvalidArgument)
	}
	return w.body.Write(p)
}

// err is the answer as an error of its status's class.
func (w *recorder) err() error {
	msg := strings.TrimSpace(w.body.String())
	var b struct{ Message string }
	if json.Unmarshal(w.body.Bytes(), &b) == nil && b.Message != "" {
		msg = b.Message
	}
	return &statusError{code: w.status, msg: msg}
}

// execStream is the page's side of an exec's raw stream: reads are the
// terminal's output, writes its input.
type execStream struct {
	r    *bufio.Reader
	conn net.Conn
}

func (e *execStream) Read(p []byte) (int, error)  { return e.r.Read(p) }
func (e *execStream) Write(p []byte) (int, error) { return e.conn.Write(p) }
func (e *execStream) Close() error                { return e.conn.Close() }

// execStart starts exec id through the Docker API's handler, which takes
// the request's connection over as `docker exec` has it: here one end of
// an in-memory pipe. It returns the stream once the handler answered
// 200 and a channel closed when the handler returned (the exec ended).
func (s *Server) execStart(r *http.Request, id string, cols, rows int) (*execStream, <-chan struct{}, error) {
	body, _ := json.Marshal(map[string]any{"Detach": false, "Tty": true, "ConsoleSize": [2]int{rows, cols}})
	// The exec outlives nothing but itself: it is not cancelled with
	// the page's request, whose end closes the stream instead.
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, "/exec/"+url.PathEscape(id)+"/start", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.RemoteAddr, req.Host = r.RemoteAddr, "console"
	req.Header.Set("Content-Type", "application/json")
	ours, theirs := net.Pipe()
	hw := &hijackWriter{recorder: recorder{header: http.Header{}}, conn: theirs, hijacked: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.docker.ServeHTTP(hw, req)
		if !hw.taken() {
			_ = theirs.Close()
		}
	}()
	select {
	case <-hw.hijacked:
	case <-done:
		if !hw.taken() {
			_ = ours.Close()
			if hw.status < 300 {
				hw.status = http.StatusInternalServerError
			}
			return nil, nil, hw.err()
		}
	}
	br := bufio.NewReader(ours)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = ours.Close()
		return nil, nil, fmt.Errorf("the exec's stream: %v: %w", err, errdefs.ErrUnavailable)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSwitchingProtocols {
		_ = ours.Close()
		return nil, nil, &statusError{code: resp.StatusCode, msg: "the exec did not start: " + resp.Status}
	}
	// The raw stream follows the answer's header; ReadResponse's body
	// reader would stop at nothing, so read br itself.
	return &execStream{r: br, conn: ours}, done, nil
}

// hijackWriter is the ResponseWriter of an exec start: the handler
// takes its connection over (an in-memory pipe), or answers an error as
// a recorder keeps it.
type hijackWriter struct {
	recorder
	conn     net.Conn
	mu       sync.Mutex
	took     bool
	hijacked chan struct{}
}

// Hijack implements http.Hijacker.
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.took {
		return nil, nil, errors.New("the connection was taken over already")
	}
	h.took = true
	close(h.hijacked)
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

func (h *hijackWriter) taken() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.took
}
