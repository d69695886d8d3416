package console

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
)

// dockerService is the policy service of the console's Docker side. A
// statement "docker:*:*" allows all of it, "docker:ContainerList,
// ContainerInspect,ContainerLogs:web-*" reading the containers named
// web-...; an admin key ("*:*:*") allows everything, as on the socket.
const dockerService = "docker"

// dockerRoute is one Docker Engine API route the console may call, the
// action a key needs for it (the Docker SDK's name of the call) and the
// path value naming its resource ("" for none).
type dockerRoute struct {
	pattern  string
	action   string
	resource string
	// container: the resource is a container reference, resolved to
	// its name before the policy is asked.
	container bool
}

// dockerRoutes is the allowlist: what the pages need, nothing more
// (no create, attach, build, pull or system calls; exec only as the
// terminal of exec.go, a shell with a TTY).
var dockerRoutes = []dockerRoute{
	{"GET /containers/json", "ContainerList", "", false},
	{"GET /containers/{name}/json", "ContainerInspect", "name", true},
	{"POST /containers/{name}/start", "ContainerStart", "name", true},
	{"POST /containers/{name}/stop", "ContainerStop", "name", true},
	{"POST /containers/{name}/restart", "ContainerRestart", "name", true},
	{"DELETE /containers/{name}", "ContainerRemove", "name", true},
	{"GET /images/json", "ImageList", "", false},
	{"GET /images/{name}/json", "ImageInspect", "name", false},
	{"GET /images/{name}/history", "ImageHistory", "name", false},
	{"GET /networks", "NetworkList", "", false},
	{"GET /networks/{name}", "NetworkInspect", "name", false},
	{"GET /volumes", "VolumeList", "", false},
	{"GET /volumes/{name}", "VolumeInspect", "name", false},
	{"GET /info", "Info", "", false},
	{"GET /version", "ServerVersion", "", false},
}

// maxDockerBody bounds what a page sends through to the Docker API (its
// calls have no bodies today).
const maxDockerBody = 64 << 10

func (s *Server) dockerRoutes(mux *http.ServeMux, api string) {
	for _, rt := range dockerRoutes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.HandleFunc(method+" "+api+"/docker"+path, s.authed(func(w http.ResponseWriter, r *http.Request, c *call) error {
			return s.proxyDocker(w, r, c, rt)
		}))
	}
	mux.HandleFunc("GET "+api+"/containers/{name}/logs", s.authed(s.containerLogs))
	mux.HandleFunc("GET "+api+"/containers/{name}/exec", s.authed(s.execTerminal))
}

// resource resolves the resource a route's request names.
func (s *Server) resource(ctx context.Context, r *http.Request, rt dockerRoute) string {
	if rt.resource == "" {
		return ""
	}
	ref := r.PathValue(rt.resource)
	if rt.container && s.containers != nil {
		if name, err := s.containers.Name(ctx, ref); err == nil {
			return name
		}
	}
	return ref
}

// proxyDocker serves a console call with the Docker API's handler, once
// the key may make it.
func (s *Server) proxyDocker(w http.ResponseWriter, r *http.Request, c *call, rt dockerRoute) error {
	if s.docker == nil {
		return fmt.Errorf("this daemon's console has no Docker API: %w", errdefs.ErrNotImplemented)
	}
	if err := c.allow(dockerService, rt.action, s.resource(r.Context(), r, rt)); err != nil {
		return err
	}
	r2, err := dockerRequest(r, strings.TrimPrefix(r.URL.Path, Prefix+"api/docker"), r.URL.RawQuery)
	if err != nil {
		return err
	}
	s.docker.ServeHTTP(w, r2)
	return nil
}

// dockerRequest is the request the Docker API handler is given for a
// console call: the Docker path, the query, the body (bounded), and none
// of the browser's headers (its cookie stays in the console).
func dockerRequest(r *http.Request, path, rawQuery string) (*http.Request, error) {
	u := &url.URL{Path: path, RawQuery: rawQuery}
	var body io.Reader = http.NoBody
	if r.Body != nil && r.ContentLength != 0 {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxDockerBody+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxDockerBody {
			return nil, fmt.Errorf("the request body is larger than %d bytes: %w", maxDockerBody, errdefs.ErrInvalidArgument)
		}
		body = bytes.NewReader(data)
	}
	r2, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	r2.RemoteAddr = r.RemoteAddr
	r2.Host = "console"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		r2.Header.Set("Content-Type", ct)
	}
	return r2, nil
}

// containerLogs streams a container's log as server-sent events: the
// last lines (tail, default 200, at most 5000), then what it writes, as
// `docker logs --follow` does; each event {"stream":"stdout","text":...}.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.docker == nil {
		return fmt.Errorf("this daemon's console has no Docker API: %w", errdefs.ErrNotImplemented)
	}
	rt := dockerRoute{resource: "name", container: true}
	if err := c.allow(dockerService, "ContainerLogs", s.resource(r.Context(), r, rt)); err != nil {
		return err
	}
	tail := 200
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("tail %q: want a count: %w", v, errdefs.ErrInvalidArgument)
		}
		tail = min(n, 5000)
	}
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}, "follow": {"1"}, "tail": {strconv.Itoa(tail)}}
	r2, err := dockerRequest(r, "/containers/"+url.PathEscape(r.PathValue("name"))+"/logs", q.Encode())
	if err != nil {
		return err
	}
	lw := &logEvents{header: http.Header{}, out: w}
	s.docker.ServeHTTP(lw, r2)
	return lw.finish()
}

// maxLogFrame bounds one frame of a log stream (a log entry: the
// engine's are at most 16 KiB, as Docker's).
const maxLogFrame = 1 << 20

// logEvents is the ResponseWriter the Docker API's log handler writes
// to: it turns Docker's stream (multiplexed frames, or raw for a TTY)
// into server-sent events, and keeps an error answer for the console to
// give as its own.
type logEvents struct {
	header http.Header
	out    http.ResponseWriter
	status int
	stream *sse
	mux    bool
	buf    []byte // a partial frame
	errBuf bytes.Buffer
}

func (l *logEvents) Header() http.Header { return l.header }

func (l *logEvents) WriteHeader(code int) {
	if l.status != 0 {
		return
	}
	l.status = code
	if code != http.StatusOK {
		return
	}
	l.mux = strings.Contains(l.header.Get("Content-Type"), "multiplexed")
	l.stream = startSSE(l.out)
}

func (l *logEvents) Write(p []byte) (int, error) {
	if l.status == 0 {
		l.WriteHeader(http.StatusOK)
	}
	if l.stream == nil {
		if l.errBuf.Len() < 64<<10 {
			l.errBuf.Write(p)
		}
		return len(p), nil
	}
	if !l.mux {
		return len(p), l.stream.send("log", logLine{Stream: "stdout", Text: string(p)})
	}
	l.buf = append(l.buf, p...)
	for len(l.buf) >= 8 {
		n := int(binary.BigEndian.Uint32(l.buf[4:8]))
		if n > maxLogFrame {
			// The Docker API frames one log entry at a time; this is
			// not its stream.
			return 0, fmt.Errorf("a log frame of %d bytes: %w", n, errdefs.ErrInvalidArgument)
		}
		if len(l.buf) < 8+n {
			break
		}
		stream := "stdout"
		if l.buf[0] == 2 {
			stream = "stderr"
		}
		if err := l.stream.send("log", logLine{Stream: stream, Text: string(l.buf[8 : 8+n])}); err != nil {
			return 0, err
		}
		l.buf = l.buf[8+n:]
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}

// Flush implements http.Flusher (events are flushed as they are sent).
func (l *logEvents) Flush() {}

// finish returns the Docker API's error, when it answered one.
func (l *logEvents) finish() error {
	if l.stream != nil || l.status == 0 {
		return nil
	}
	msg := strings.TrimSpace(l.errBuf.String())
	var body struct{ Message string }
	if raw := []byte(msg); len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &body); err == nil && body.Message != "" {
			msg = body.Message
		}
	}
	return &statusError{code: l.status, msg: msg}
}

// logLine is one event of a log stream.
type logLine struct {
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// statusError is an answer of a handler the console called, given on.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// Is gives the status's class, so that httperr maps it back.
func (e *statusError) Is(target error) bool {
	switch e.code {
	case http.StatusNotFound:
		return target == errdefs.ErrNotFound
	case http.StatusConflict:
		return target == errdefs.ErrConflict
	case http.StatusBadRequest:
		return target == errdefs.ErrInvalidArgument
	case http.StatusForbidden:
		return target == errdefs.ErrForbidden
	case http.StatusUnauthorized:
		return target == errdefs.ErrUnauthorized
	case http.StatusServiceUnavailable:
		return target == errdefs.ErrUnavailable
	}
	return false
}

// eventView is an engine event as the pages get it.
type eventView struct {
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Time       int64             `json:"time"` // Unix milliseconds
}

// events streams the engine's events (containers, images, networks,
// volumes) as server-sent events, each allowed to the key by its
// docker:Events statement on the object's name.
func (s *Server) events(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.bus == nil {
		return fmt.Errorf("this daemon's console has no event bus: %w", errdefs.ErrNotImplemented)
	}
	if !c.can(dockerService, "Events", "") && !hasAny(c, "Events") {
		return c.allow(dockerService, "Events", "")
	}
	sub, err := s.bus.Subscribe(events.SubscribeOptions{Filter: func(ev events.Event) bool {
		switch ev.Type {
		case events.TypeContainer, events.TypeImage, events.TypeNetwork, events.TypeVolume:
			return true
		}
		return false
	}})
	if err != nil {
		return err
	}
	defer sub.Close()
	stream := startSSE(w)
	if err := stream.send("ready", struct{}{}); err != nil {
		return nil
	}
	ctx := r.Context()
	for {
		nctx, cancel := context.WithTimeout(ctx, sseKeepAlive)
		ev, err := sub.Next(nctx)
		cancel()
		var lost *events.LostError
		switch {
		case err == nil:
		case errors.As(err, &lost):
			// The page reloads its lists when it missed events.
			if stream.send("lost", map[string]int{"n": lost.N}) != nil {
				return nil
			}
			continue
		case ctx.Err() != nil, errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if stream.ping() != nil {
				return nil
			}
			continue
		default:
			return nil
		}
		name := ev.Actor.Attributes["name"]
		if name == "" {
			name = ev.Actor.ID
		}
		if !c.can(dockerService, "Events", name) {
			continue
		}
		v := eventView{Type: ev.Type, Action: ev.Action, ID: ev.Actor.ID, Time: ev.Time.UnixMilli()}
		if a := ev.Actor.Attributes; a != nil {
			v.Attributes = map[string]string{}
			for _, k := range []string{"name", "image", "exitCode", "health_status"} {
				if a[k] != "" {
					v.Attributes[k] = a[k]
				}
			}
		}
		if err := stream.send("event", v); err != nil {
			return nil
		}
	}
}

// hasAny reports whether some statement of the key allows action of the
// Docker service on some resource (a key limited to web-* containers
// still follows their events).
func hasAny(c *call, action string) bool { return hasAnyOf(c, dockerService, action) }
