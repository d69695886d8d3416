package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// The registry, cluster and Batch pages read the daemon's native API (the
// one `wharf registry`, `wharf node`, `wharf service` and `wharf batch`
// call on the socket), in process, for an allowlist of its read-only
// routes. Each is authorised with the AWS-shaped API's own service and
// action (ECR, ECS, Batch) as a key's policy names them; lists are cut
// to the items the key may see, as ECR's DescribeRepositories does.
//
//	GET /console/api/registry/repositories          ecr:DescribeRepositories (each repository)
//	GET /console/api/registry/images?repository=R   ecr:DescribeImages on R
//	GET /console/api/cluster/nodes                  ecs:DescribeContainerInstances
//	GET /console/api/cluster/services?cluster=C     ecs:DescribeServices on C
//	GET /console/api/cluster/services/{name}/tasks?cluster=C
//	                                                ecs:DescribeTasks on C
//	GET /console/api/batch/queues                   batch:DescribeJobQueues (each queue)
//	GET /console/api/batch/jobs?limit=N             batch:ListJobs (each job's queue)
//
// Outside a cluster the cluster routes answer 409 with the native API's
// "in no cluster" message, which the page shows as such.

// nativePrefix is the native API's path prefix (api/wharf.Prefix; not
// imported, to keep the console's imports to what it serves).
const nativePrefix = "/wharf/v1"

// maxNativeAnswer bounds an answer of the native API the console reads.
const maxNativeAnswer = 16 << 20

// nativeRoute is one native read the console serves.
type nativeRoute struct {
	// pattern is the console's route, below /console/api.
	pattern string
	// path is the native API's path for a request.
	path            func(r *http.Request) (string, url.Values, error)
	service, action string
	// resource is what the policy is asked about ("" for none).
	resource func(r *http.Request) string
	// each, when set, is the field of every listed item that the key
	// must be allowed the action on for the item to be shown.
	each string
}

func fixed(p string) func(*http.Request) (string, url.Values, error) {
	return func(*http.Request) (string, url.Values, error) { return p, nil, nil }
}

func clusterOf(r *http.Request) string {
	if c := r.URL.Query().Get("cluster"); c != "" {
		return c
	}
	return "default"
}

var nativeRoutes = []nativeRoute{
	{pattern: "/registry/repositories", path: fixed("/registry/repositories"), service: "ecr", action: "DescribeRepositories", each: "Name"},
	{pattern: "/registry/images", path: func(r *http.Request) (string, url.Values, error) {
		repo := r.URL.Query().Get("repository")
		if repo == "" || len(repo) > 256 {
			return "", nil, fmt.Errorf("a repository is needed: %w", errdefs.ErrInvalidArgument)
		}
		return "/registry/images", url.Values{"repository": {repo}}, nil
	}, service: "ecr", action: "DescribeImages", resource: func(r *http.Request) string { return r.URL.Query().Get("repository") }},
	{pattern: "/cluster/nodes", path: fixed("/cluster/nodes"), service: "ecs", action: "DescribeContainerInstances"},
	{pattern: "/cluster/services", path: func(r *http.Request) (string, url.Values, error) {
		return "/cluster/services", url.Values{"cluster": {clusterOf(r)}}, nil
	}, service: "ecs", action: "DescribeServices", resource: clusterOf},
	{pattern: "/cluster/services/{name}/tasks", path: func(r *http.Request) (string, url.Values, error) {
		return "/cluster/services/" + url.PathEscape(r.PathValue("name")) + "/tasks", url.Values{"cluster": {clusterOf(r)}}, nil
	}, service: "ecs", action: "DescribeTasks", resource: clusterOf},
	{pattern: "/batch/queues", path: fixed("/batch/queues"), service: "batch", action: "DescribeJobQueues", each: "Name"},
	{pattern: "/batch/jobs", path: func(r *http.Request) (string, url.Values, error) {
		limit := 200
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return "", nil, fmt.Errorf("limit %q: want a count: %w", v, errdefs.ErrInvalidArgument)
			}
			limit = min(n, 1000)
		}
		return "/batch/jobs", url.Values{"limit": {strconv.Itoa(limit)}}, nil
	}, service: "batch", action: "ListJobs", each: "Queue"},
}

func (s *Server) nativeRoutes(mux *http.ServeMux, api string) {
	for _, rt := range nativeRoutes {
		mux.HandleFunc("GET "+api+rt.pattern, s.authed(func(w http.ResponseWriter, r *http.Request, c *call) error {
			return s.nativeRead(w, r, c, rt)
		}))
	}
}

// nativeRead serves one allowlisted read of the native API.
func (s *Server) nativeRead(w http.ResponseWriter, r *http.Request, c *call, rt nativeRoute) error {
	if s.native == nil {
		return fmt.Errorf("this daemon's console has no native API: %w", errdefs.ErrNotImplemented)
	}
	res := ""
	if rt.resource != nil {
		res = rt.resource(r)
	}
	if rt.each == "" || res != "" {
		if err := c.allow(rt.service, rt.action, res); err != nil {
			return err
		}
	} else if !c.can(rt.service, rt.action, "") && !hasAnyOf(c, rt.service, rt.action) {
		return c.allow(rt.service, rt.action, "")
	}
	path, q, err := rt.path(r)
	if err != nil {
		return err
	}
	u := &url.URL{Path: nativePrefix + path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	req.RemoteAddr, req.Host = r.RemoteAddr, "console"
	rec := &recorder{header: http.Header{}, max: maxNativeAnswer}
	s.native.ServeHTTP(rec, req)
	if rec.status >= 300 {
		return rec.err()
	}
	body := rec.body.Bytes()
	if rt.each != "" {
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return fmt.Errorf("the native API answered %s with no list: %w", path, errdefs.ErrUnavailable)
		}
		kept := make([]map[string]json.RawMessage, 0, len(items))
		for _, it := range items {
			var name string
			_ = json.Unmarshal(it[rt.each], &name)
			if c.can(rt.service, rt.action, name) {
				kept = append(kept, it)
			}
		}
		writeJSON(w, http.StatusOK, kept)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(bytes.TrimSpace(body))
	return nil
}

// hasAnyOf reports whether some statement of the key allows action of
// service on some resource (a key limited to some repositories still
// lists those).
func hasAnyOf(c *call, service, action string) bool {
	for _, st := range c.stmts {
		if st.Service != "*" && !strings.EqualFold(st.Service, service) {
			continue
		}
		for _, a := range st.Actions {
			if a == "*" || strings.EqualFold(a, action) {
				return true
			}
		}
	}
	return false
}
