package wharf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/wharf-dev/wharf/errdefs"
)

// DefaultHost is where the CLI looks for the daemon unless told otherwise.
const DefaultHost = "unix:///run/wharf/wharf.sock"

// DefaultRoot is the daemon's --root unless told otherwise. `wharf daemon`
// reads the flag too: the daemon's binary is written under it.
const DefaultRoot = "/var/lib/wharf"

// Client talks to a wharf daemon's native API over its unix socket.
type Client struct {
	socket string
	http   *http.Client

	mu sync.Mutex
	// daemonVersion is the native API version of the daemon's last
	// answer ("" before the first); see version.go.
	daemonVersion string
}

// NewClient returns a client for host, a "unix:///path" address (a bare
// absolute path is accepted too).
func NewClient(host string) (*Client, error) {
	path := strings.TrimPrefix(host, "unix://")
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("host %q: only unix:///path sockets are supported: %w", host, errdefs.ErrInvalidArgument)
	}
	c := &Client{socket: path}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:       4,
		DisableCompression: true,
	}}
	return c, nil
}

// Socket returns the path of the daemon's socket.
func (c *Client) Socket() string { return c.socket }

func (c *Client) url(path string, q url.Values) string {
	u := "http://wharf" + Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Do sends a request with an optional JSON (or io.Reader) body and decodes a
// JSON answer into out when out is non-nil. Error answers become errors of
// the errdefs class matching their status code.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.Stream(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp)
		return nil
	}
	if err := json.NewDecoder(resp).Decode(out); err != nil {
		return fmt.Errorf("decoding answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a request and returns the answer's body for the caller to
// read (logs, stats, pull progress, save). The caller closes it.
func (c *Client) Stream(ctx context.Context, method, path string, q url.Values, body any) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.connErr(err)
	}
	c.noteVersion(resp.Header)
	if resp.StatusCode >= 400 || resp.StatusCode == http.StatusNotModified {
		defer resp.Body.Close()
		return nil, c.decodeError(method, path, resp)
	}
	return resp.Body, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
		ctype = "application/x-tar"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
		ctype = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, nil
}

func (c *Client) connErr(err error) error {
	return fmt.Errorf("cannot connect to the wharf daemon at unix://%s (is `wharf daemon` running?)%w", c.socket, silent{errdefs.ErrUnavailable})
}

// decodeError turns an error answer into an error of its class; a
// request the daemon does not serve at all is a MissingRouteError.
func (c *Client) decodeError(method, path string, resp *http.Response) error {
	var e ErrorResponse
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if method != http.MethodHead && missingRoute(resp.StatusCode, data) {
		return &MissingRouteError{Method: method, Path: Prefix + path, DaemonVersion: versionOf(resp.Header)}
	}
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	err := fmt.Errorf("%s%w", e.Message, classError(resp.StatusCode))
	if e.ExitCode != 0 {
		return &StartError{Code: e.ExitCode, Err: err}
	}
	return err
}

// StartError is a start the daemon could not make, with docker's exit
// code for it; it wraps the error of the answer's class.
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// classError returns a wrapper error of the class for an HTTP status whose
// text is empty, so that the server's message reads unchanged.
func classError(status int) error {
	var class error
	switch status {
	case http.StatusNotFound:
		class = errdefs.ErrNotFound
	case http.StatusConflict:
		class = errdefs.ErrConflict
	case http.StatusBadRequest:
		class = errdefs.ErrInvalidArgument
	case http.StatusNotModified:
		class = errdefs.ErrNotModified
	case http.StatusServiceUnavailable:
		class = errdefs.ErrUnavailable
	case http.StatusForbidden:
		class = errdefs.ErrForbidden
	case http.StatusNotImplemented:
		class = errdefs.ErrNotImplemented
	case http.StatusUnauthorized:
		class = errdefs.ErrUnauthorized
	default:
		return silent{}
	}
	return silent{class}
}

// silent wraps an error class without adding its text to the message.
type silent struct{ class error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.class }

// Hijack sends a request that upgrades the connection to a raw stream
// (attach, exec start) and returns the connection and a reader holding
// any bytes already buffered past the answer's header.
func (c *Client) Hijack(ctx context.Context, method, path string, q url.Values, body any) (net.Conn, *bufio.Reader, error) {
	conn, br, _, err := c.HijackHeader(ctx, method, path, q, body)
	return conn, br, err
}

// HijackHeader is Hijack that also returns the headers of the daemon's
// answer.
func (c *Client) HijackHeader(ctx context.Context, method, path string, q url.Values, body any) (net.Conn, *bufio.Reader, http.Header, error) {
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return nil, nil, nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, nil, c.connErr(err)
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The 101 of a taken-over stream carries only the stream's
		// headers; an error answer is an ordinary one.
		c.noteVersion(resp.Header)
		defer conn.Close()
		return nil, nil, nil, c.decodeError(method, path, resp)
	}
	return conn, br, resp.Header, nil
}
