// Package trigger invokes functions from outside events: HTTP routes that
// turn requests into API Gateway HTTP API (payload format 2.0) events, and
// schedules (rate and cron expressions) that send EventBridge scheduled
// events. Both tables are kept in one JSON file, rewritten with internal/atomicfile
// (a crash leaves the old table or the new one, never a torn file).
package trigger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// Invoker is what triggers need of the functions engine.
type Invoker interface {
	Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error)
}

// Route maps an HTTP method and path pattern to a function.
type Route struct {
	Method   string // GET, POST, ... or ANY
	Path     string // "/users/{id}", "/files/{proxy+}"
	Function string
	// Qualifier is a version or alias ("" = $LATEST).
	Qualifier string
	Created   time.Time
}

// Key is the route's API Gateway route key ("GET /users/{id}").
func (r Route) Key() string { return r.Method + " " + r.Path }

// ValidateRoute checks a route's method and path.
func ValidateRoute(r *Route) error {
	r.Method = strings.ToUpper(r.Method)
	switch r.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY":
	default:
		return fmt.Errorf("invalid method %q: %w", r.Method, errdefs.ErrInvalidArgument)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("route path %q must start with /: %w", r.Path, errdefs.ErrInvalidArgument)
	}
	if strings.HasPrefix(r.Path, "/2015-03-31") || strings.HasPrefix(r.Path, "/2017-10-31") || strings.HasPrefix(r.Path, "/2018-") || r.Path == "/metrics" || strings.HasPrefix(r.Path, "/wharf/") {
		return fmt.Errorf("route path %q collides with wharf's own APIs: %w", r.Path, errdefs.ErrInvalidArgument)
	}
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}") {
			return fmt.Errorf("route path %q: malformed parameter %q: %w", r.Path, s, errdefs.ErrInvalidArgument)
		}
		if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
			return fmt.Errorf("route path %q: a greedy parameter must be last: %w", r.Path, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// match reports whether path matches pattern and returns the parameters.
func match(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i >= len(xs) || xs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-2]] = strings.Join(xs[i:], "/")
			return params, true
		}
		if i >= len(xs) {
			return nil, false
		}
		if strings.HasPrefix(p, "{") {
			if xs[i] == "" {
				return nil, false
			}
			v, err := url.PathUnescape(xs[i])
			if err != nil {
				v = xs[i]
			}
			params[p[1:len(p)-1]] = v
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	if len(ps) != len(xs) {
		return nil, false
	}
	return params, true
}

// specificity orders routes as API Gateway does: literal segments beat
// parameters, parameters beat greedy ones, an exact method beats ANY.
func specificity(r Route) (int, int, int) {
	lit, par := 0, 0
	for _, s := range strings.Split(strings.Trim(r.Path, "/"), "/") {
		switch {
		case strings.HasSuffix(s, "+}"):
		case strings.HasPrefix(s, "{"):
			par++
		default:
			lit++
		}
	}
	m := 1
	if r.Method == "ANY" {
		m = 0
	}
	return lit, par, m
}

// Find returns the best route for a request, with its path parameters.
func Find(routes []Route, method, path string) (*Route, map[string]string) {
	var best *Route
	var bestParams map[string]string
	var bl, bp, bm int
	for i := range routes {
		r := routes[i]
		if r.Method != "ANY" && r.Method != method {
			continue
		}
		params, ok := match(r.Path, path)
		if !ok {
			continue
		}
		l, p, m := specificity(r)
		if best == nil || l > bl || l == bl && (p > bp || p == bp && m > bm) {
			best, bestParams, bl, bp, bm = &routes[i], params, l, p, m
		}
	}
	return best, bestParams
}

// httpEvent is the API Gateway HTTP API payload format 2.0.
type httpEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpContext `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
}

type httpContext struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// MaxBody bounds a request body turned into an event.
const MaxBody = 6 * 1024 * 1024

// Event builds the 2.0 event of a request matched to route.
func Event(r *http.Request, route *Route, params map[string]string, requestID string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("request body too large: %w", functions.ErrTooLarge)
	}
	now := time.Now().UTC()
	ev := httpEvent{
		Version: "2.0", RouteKey: route.Key(), RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, PathParameters: params,
		RequestContext: requestContext{
			AccountID: functions.DefaultAccount, APIID: "wharf", DomainName: r.Host, DomainPrefix: strings.Split(r.Host, ".")[0],
			HTTP:      httpContext{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: strings.Split(r.RemoteAddr, ":")[0], UserAgent: r.UserAgent()},
			RequestID: requestID, RouteKey: route.Key(), Stage: "$default", Time: now.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
		},
	}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					ev.Cookies = append(ev.Cookies, strings.TrimSpace(c))
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return json.Marshal(ev)
}

// WriteResponse maps a function's answer to the HTTP response as API
// Gateway does for format 2.0: an object with statusCode is a full
// response; anything else is a 200 JSON body.
func WriteResponse(w http.ResponseWriter, payload []byte) {
	var resp struct {
		StatusCode      *int                `json:"statusCode"`
		Headers         map[string]string   `json:"headers"`
		MultiValue      map[string][]string `json:"multiValueHeaders"`
		Cookies         []string            `json:"cookies"`
		Body            string              `json:"body"`
		IsBase64Encoded bool                `json:"isBase64Encoded"`
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &resp) == nil && resp.StatusCode != nil {
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for k, vs := range resp.MultiValue {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		for _, c := range resp.Cookies {
			w.Header().Add("Set-Cookie", c)
		}
		body := []byte(resp.Body)
		if resp.IsBase64Encoded {
			if dec, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
				body = dec
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(*resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A JSON string answer is the body itself.
	var s string
	if json.Unmarshal(trimmed, &s) == nil {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(s))
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
}

func sortRoutes(rs []Route) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Key() < rs[j].Key() })
}
