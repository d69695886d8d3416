package clusterapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// The handler over the real node service on an embedded NATS: list,
// update, remove, tokens, and the answer of a daemon in no cluster.
func TestHandler(t *testing.T) {
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Nodes().Create(ctx, "abc123", state.Node{ID: "abc123", Name: "n1", Availability: state.AvailabilityActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Heartbeats().Put(ctx, "abc123", state.Heartbeat{Leader: true}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(agent.NewNodes(st), func() (string, string, error) { return "W", "M", nil }, "abc123"))
	defer srv.Close()
	do := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, srv.URL+wharf.Prefix+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if out != nil {
			_ = json.NewDecoder(res.Body).Decode(out)
		}
		return res.StatusCode
	}
	var ns []wharf.ClusterNode
	if code := do("GET", "/cluster/nodes", "", &ns); code != 200 || len(ns) != 1 || ns[0].Status != "READY" || !ns[0].Leader || !ns[0].Self {
		t.Fatalf("list: %d %+v", code, ns)
	}
	var n wharf.ClusterNode
	if code := do("POST", "/cluster/nodes/n1/update", `{"Availability":"DRAINING","LabelAdd":{"zone":"a"}}`, &n); code != 200 || n.Availability != "DRAINING" || n.Labels["zone"] != "a" {
		t.Fatalf("update: %d %+v", code, n)
	}
	if code := do("POST", "/cluster/nodes/abc/update", `{"Availability":"PAUSED"}`, nil); code != 400 {
		t.Fatalf("bad availability: %d", code)
	}
	if code := do("POST", "/cluster/nodes/zzz/update", `{}`, nil); code != 404 {
		t.Fatalf("unknown node: %d", code)
	}
	if code := do("DELETE", "/cluster/nodes/n1", "", nil); code != 409 {
		t.Fatalf("remove a READY node: %d", code)
	}
	if code := do("DELETE", "/cluster/nodes/n1?force=1", "", nil); code != 204 {
		t.Fatalf("force remove: %d", code)
	}
	if _, err := st.Nodes().Get(ctx, "abc123"); !errdefs.IsNotFound(err) {
		t.Fatalf("removed node: %v", err)
	}
	var tk wharf.ClusterTokens
	if code := do("GET", "/cluster/tokens", "", &tk); code != 200 || tk.Worker != "W" || tk.Manager != "M" {
		t.Fatalf("tokens: %d %+v", code, tk)
	}

	none := httptest.NewServer(New(nil, nil, ""))
	defer none.Close()
	res, err := http.Get(none.URL + wharf.Prefix + "/cluster/nodes")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 409 {
		t.Fatal(fmt.Sprint("no cluster: ", res.StatusCode))
	}
}
