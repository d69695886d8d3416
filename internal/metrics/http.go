package metrics

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// APIMetrics counts the requests of the daemon's APIs and times them, by
// API (docker, native, lambda, ecr, logs, function), route template and
// status. Routes are the templates a server matched ("GET
// /containers/{name}/json", an AWS operation name), never raw paths: the
// series stay bounded whatever clients send.
type APIMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewAPIMetrics registers the API series on reg.
func NewAPIMetrics(reg prometheus.Registerer) *APIMetrics {
	m := &APIMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_api_requests_total", Help: "Requests served by the daemon's APIs, by API, route template and status code.",
		}, []string{"api", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_api_request_duration_seconds", Help: "Time to serve a request of the daemon's APIs, by API and route template (streams and hijacked connections: their whole life).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"api", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Classify names the API and route template of a request before it is
// served (servers may rewrite the request as they route it). An empty
// route means none matched.
type Classify func(r *http.Request) (api, route string)

// Unmatched is the route of requests no route matched.
const Unmatched = "unmatched"

// Wrap counts and times next's requests as c classifies them.
func (m *APIMetrics) Wrap(c Classify, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, route := c(r)
		if route == "" {
			route = Unmatched
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(api, route, strconv.Itoa(code)).Inc()
		m.latency.WithLabelValues(api, route).Observe(time.Since(start).Seconds())
	})
}

// recorder keeps the status a handler answers with, and lets the
// handler flush and hijack the connection as it could without it.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.code == 0 {
			r.code = http.StatusOK
		}
		f.Flush()
	}
}

// Hijack hands the connection over (docker attach and exec); the request
// counts as switching protocols unless the handler wrote a status first.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	if r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return hj.Hijack()
}

// Unwrap serves http.ResponseController (deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
