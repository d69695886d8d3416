package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// scrape reads and parses the whole /metrics of the daemon at addr.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestContainerMetrics: /metrics parses whole with containers running; a
// container's cAdvisor series carry its id, name and image; its memory
// follows what it allocates; network bytes follow traffic to the bridge's
// gateway; scrapes leave a dormant shim dormant; requests are counted by
// route template, never by path.
func TestContainerMetrics(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := newDaemon(t, testutil.WithDaemonArgs("--http", addr, "--shim-dormant-after", "200ms"))

	mem := runD(t, d, "--name", "mem", "--tmpfs", "/big:size=100m", busybox, "sleep", "1000")
	quiet := runD(t, d, "--name", "quiet", busybox, "sleep", "1000")

	fams := scrape(t, addr)
	sel := map[string]string{"name": "mem", "id": "/wharf/" + mem, "image": busybox}
	for _, name := range []string{"container_cpu_usage_seconds_total", "container_memory_usage_bytes", "container_memory_working_set_bytes",
		"container_memory_rss", "container_spec_memory_limit_bytes", "container_oom_events_total", "container_processes",
		"container_last_seen", "container_start_time_seconds", "container_cpu_user_seconds_total", "container_cpu_system_seconds_total"} {
		if _, ok := value(fams, name, sel); !ok {
			t.Errorf("no %s series for container mem %v", name, sel)
		}
	}
	if v, _ := value(fams, "container_processes", sel); v != 1 {
		t.Errorf("container_processes of a container running sleep: %v", v)
	}
	started, _ := value(fams, "container_start_time_seconds", sel)
	if since := time.Since(time.Unix(int64(started), 0)); since < 0 || since > 5*time.Minute {
		t.Errorf("container_start_time_seconds %v is %v ago", started, since)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "wharf_container_starts_total", "wharf_shims", "wharf_nats_connected", "wharf_api_requests_total", "wharf_event_subscribers"} {
		if fams[name] == nil {
			t.Errorf("no %s family in /metrics", name)
		}
	}
	if v, _ := value(fams, "wharf_container_starts_total", map[string]string{"result": "ok"}); v < 2 {
		t.Errorf("wharf_container_starts_total{result=ok} = %v after two starts", v)
	}
	if v, _ := value(fams, "wharf_nats_connected", nil); v != 1 {
		t.Errorf("wharf_nats_connected = %v", v)
	}

	// Memory follows a process that allocates: 50 MiB in a tmpfs are
	// charged to the container and are not reclaimable page cache.
	ws := func() float64 {
		v, ok := value(scrape(t, addr), "container_memory_working_set_bytes", sel)
		if !ok {
			t.Fatal("no working set series for mem")
		}
		return v
	}
	before := ws()
	d.MustWharf(t, "exec", mem, "dd", "if=/dev/zero", "of=/big/f", "bs=1048576", "count=50")
	after := ws()
	if after-before < 45<<20 {
		t.Errorf("working set went from %.0f to %.0f after writing 50 MiB to a tmpfs", before, after)
	}
	d.MustWharf(t, "exec", mem, "rm", "/big/f")
	if freed := ws(); after-freed < 40<<20 {
		t.Errorf("working set went from %.0f to %.0f after removing the 50 MiB", after, freed)
	}

	// Network bytes follow traffic to the bridge's gateway (this test's
	// own bridge).
	gw := inspect(t, d, "{{.NetworkSettings.Gateway}}", mem)
	net := func() (rx, tx float64) {
		f := scrape(t, addr)
		rx, _ = value(f, "container_network_receive_bytes_total", map[string]string{"name": "mem", "interface": "eth0"})
		tx, ok := value(f, "container_network_transmit_bytes_total", map[string]string{"name": "mem", "interface": "eth0"})
		if !ok {
			t.Fatal("no eth0 transmit series for mem")
		}
		return rx, tx
	}
	rx0, tx0 := net()
	d.MustWharf(t, "exec", mem, "ping", "-c", "10", "-i", "0.2", "-s", "1000", "-W", "2", gw)
	rx1, tx1 := net()
	if tx1-tx0 < 10*1000 || rx1-rx0 < 10*1000 {
		t.Errorf("after 10 pings of 1000 bytes: rx %v -> %v, tx %v -> %v", rx0, rx1, tx0, tx1)
	}
	// docker stats reads the same counters.
	if out := d.MustWharf(t, "stats", "--no-stream", "--format", "{{.NetIO}}", mem); strings.HasPrefix(strings.TrimSpace(out), "0B") {
		t.Errorf("wharf stats NetIO after pings: %q", out)
	}

	// Scrapes do not wake a dormant shim.
	pid := shimPid(t, d, quiet)
	if !waitFor(5*time.Second, func() bool { return isDormant(pid) }) {
		t.Fatalf("the shim of quiet did not go dormant: %q", cmdline(pid))
	}
	for range 5 {
		f := scrape(t, addr)
		if _, ok := value(f, "container_memory_usage_bytes", map[string]string{"name": "quiet"}); !ok {
			t.Fatal("no series for the container of a dormant shim")
		}
		if v, _ := value(f, "wharf_shims", map[string]string{"state": "dormant"}); v < 1 {
			t.Errorf("wharf_shims{state=dormant} = %v with quiet's shim dormant", v)
		}
	}
	if !isDormant(pid) {
		t.Errorf("scraping woke the dormant shim of quiet: %q", cmdline(pid))
	}

	// Requests are labelled by route template.
	raw := scrapeText(t, addr)
	if regexp.MustCompile(`route="[^"]*[0-9a-f]{64}`).MatchString(raw) {
		t.Errorf("a route label holds a container id:\n%s", grepLines(raw, "wharf_api_requests_total"))
	}
	// wharf exec and inspect went through the native API, by template.
	if !regexp.MustCompile(`wharf_api_requests_total\{api="native",code="2\d\d",route="[A-Z]+ /wharf/v1/containers/\{[a-z]+\}/[a-z]+"\} [1-9]`).MatchString(raw) {
		t.Errorf("no native API request counted by route template:\n%s", grepLines(raw, "wharf_api_requests_total"))
	}
}

func scrapeText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHealthProbes: /healthz and /readyz answer 200 "ok"; while the daemon
// is down the address refuses connections; after its restart both answer
// 200 again.
func TestHealthProbes(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := testutil.StartDaemon(t, testutil.WithDaemonArgs("--http", addr))
	get := func(path string) (int, string, error) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body, err := get(p); err != nil || code != 200 || body != "ok" {
			t.Fatalf("GET %s: %d %q %v", p, code, body, err)
		}
	}
	d.Kill9()
	if code, body, err := get("/healthz"); err == nil {
		t.Errorf("GET /healthz with the daemon killed answered %d %q", code, body)
	}
	d.Restart(t)
	ready := func() error {
		code, body, err := get("/readyz")
		if err != nil {
			return err
		}
		if code != 200 || body != "ok" {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	}
	var last error
	if !waitFor(20*time.Second, func() bool { last = ready(); return last == nil }) {
		t.Fatalf("/readyz after the restart: %v", last)
	}
	if code, _, err := get("/healthz"); err != nil || code != 200 {
		t.Errorf("GET /healthz after the restart: %d %v", code, err)
	}
}
