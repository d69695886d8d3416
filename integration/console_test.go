package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// consoleEnv is a daemon serving the console on a loopback port, with
// busybox imported and an admin key.
type consoleEnv struct {
	d            *testutil.Daemon
	addr         string
	regAddr      string
	id, secret   string
	artifacts    string
	axeSource    string
	lambdaClient *lambda.Client
}

func startConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	addr, regAddr := freeAddr(t), freeAddr(t)
	d := newDaemon(t, testutil.WithDaemonArgs("--http", addr, "--registry", regAddr, "--fn-idle-timeout", "30s"))
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(d.MustWharf(t, "keys", "create", "--admin", "--json")), &key); err != nil {
		t.Fatal(err)
	}
	e := &consoleEnv{d: d, addr: addr, regAddr: regAddr, id: key.AccessKeyId, secret: key.SecretAccessKey}
	e.lambdaClient = lambda.New(lambda.Options{
		BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyId, key.SecretAccessKey, ""),
		Retryer:     aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
	})
	testutil.WaitTCP(t, addr, 30*time.Second)
	return e
}

func (e *consoleEnv) url(path string) string { return "http://" + e.addr + path }

// artifactsDir is where screenshots go: $WHARF_TEST_ARTIFACTS/<test>, or
// a temporary directory that is kept and printed.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("WHARF_TEST_ARTIFACTS")
	if base == "" {
		var err error
		if base, err = os.MkdirTemp("", "wharf-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// axePath is where `make test-deps` installs axe-core
// (scripts/install-deps.sh); $WHARF_AXE_JS overrides it.
func axePath() string {
	if p := os.Getenv("WHARF_AXE_JS"); p != "" {
		return p
	}
	return "/usr/local/share/wharf-test/axe-core-4.14.1/axe.min.js"
}

// browser starts headless chromium for the test, or skips.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (WHARF_TEST_DEPS=1 sh scripts/install-deps.sh installs it): the console's browser tests skip")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a deadline.
func run(t *testing.T, ctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageHTML(ctx))
	}
}

// browserValue runs a browser action that answers a value, with a deadline.
func browserValue[T any](t *testing.T, ctx context.Context, timeout time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageHTML(ctx))
	}
	return v
}

// pageHTML is the start of the page's main element, for failures.
func pageHTML(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(tctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if len(html) > 6000 {
		html = html[:6000]
	}
	return html
}

// screenshot saves the page as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := browserValue(t, ctx, 30*time.Second, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s (%v)\npage: %s", what, timeout, err, pageHTML(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// axeViolation is one of axe-core's results.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the page and fails on serious and
// critical violations; it skips (logs) when axe-core is not installed.
func checkAccessibility(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile(axePath())
	if err != nil {
		t.Logf("axe-core is not installed at %s (WHARF_TEST_DEPS=1 sh scripts/install-deps.sh): no accessibility check of %s", axePath(), page)
		return
	}
	browserValue(t, ctx, 30*time.Second, "loading axe-core", chromedp.Evaluate[bool](string(src)+";true"))
	res := browserValue(t, ctx, 60*time.Second, "axe on "+page, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	for _, v := range res {
		msg := fmt.Sprintf("%s: axe %s (%s): %s, at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// TestConsoleBrowser drives the console in headless chromium against a
// real daemon: sign in, see a container appear live, read its logs, stop
// it; invoke a function with a test event and see its result, log tail
// and the invocation on the chart; every page screenshotted and checked
// with axe-core.
func TestConsoleBrowser(t *testing.T) {
	ctx := browser(t)
	e := startConsoleEnv(t)
	dir := artifactsDir(t)

	// Sign in.
	run(t, ctx, 30*time.Second, "opening the console",
		chromedp.Navigate(e.url("/console/")),
		chromedp.WaitVisible(chromedp.CSS("#key-id")))
	// The style, inline in the page, is allowed by the page's CSP.
	waitJS(t, ctx, 10*time.Second, "the console's style applied", `getComputedStyle(document.querySelector('.top')).backgroundColor === 'rgb(21, 32, 43)'`)
	screenshot(t, ctx, dir, "01-signin")
	checkAccessibility(t, ctx, "sign-in")
	run(t, ctx, 30*time.Second, "signing in",
		chromedp.SendKeys(chromedp.CSS("#key-id"), e.id),
		chromedp.SendKeys(chromedp.CSS("#key-secret"), e.secret),
		chromedp.WaitEnabled(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#ctrs")))
	secretLeft := browserValue(t, ctx, 5*time.Second, "reading the form", chromedp.Value(chromedp.CSS("#key-secret")))
	if secretLeft != "" {
		t.Error("the secret stayed in the sign-in form")
	}
	stored := browserValue(t, ctx, 5*time.Second, "reading storage", chromedp.Evaluate[string](`JSON.stringify(localStorage)+JSON.stringify(sessionStorage)+document.cookie`))
	if strings.Contains(stored, e.secret) || strings.Contains(stored, "wharf_console") {
		t.Errorf("the secret or the HttpOnly session cookie is readable by the page: %s", stored)
	}

	// A container run with the CLI appears live (no reload), running.
	e.d.MustWharf(t, "run", "-d", "--name", "console-web", busybox, "sh", "-c", "echo hello-from-console; echo oops >&2; exec sleep 1000")
	waitJS(t, ctx, 30*time.Second, "the container appearing live as running",
		`document.querySelector('tr[data-name="console-web"] td.state')?.textContent === 'running'`)
	screenshot(t, ctx, dir, "02-containers")
	checkAccessibility(t, ctx, "containers")

	// Its logs.
	run(t, ctx, 30*time.Second, "opening the container",
		chromedp.Click(chromedp.CSS(`tr[data-name="console-web"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#logs")))
	waitJS(t, ctx, 30*time.Second, "the container's logs", `document.querySelector('#logs').textContent.includes('hello-from-console') && document.querySelector('#logs .stderr')?.textContent.includes('oops')`)
	screenshot(t, ctx, dir, "03-container")
	checkAccessibility(t, ctx, "container")
	// Follow: a line written now shows up.
	e.d.MustWharf(t, "exec", "console-web", "sh", "-c", "echo followed-line > /proc/1/fd/1")
	waitJS(t, ctx, 30*time.Second, "a followed log line", `document.querySelector('#logs').textContent.includes('followed-line')`)

	// A shell in it, in the page's terminal.
	run(t, ctx, 30*time.Second, "opening a shell", chromedp.Click(chromedp.CSS("#term-open")))
	waitJS(t, ctx, 60*time.Second, "the shell's prompt", `document.querySelector('#term-status').textContent.startsWith('Connected') && document.querySelector('#term').textContent.includes('#')`)
	run(t, ctx, 30*time.Second, "typing into the shell", chromedp.SendKeys(chromedp.CSS("#term"), "echo hi-$((1+1))\r"))
	waitJS(t, ctx, 30*time.Second, "the command's output in the terminal", `document.querySelector('#term').textContent.split('\n').some(l => l.trim() === 'hi-2')`)
	screenshot(t, ctx, dir, "03b-terminal")
	checkAccessibility(t, ctx, "container with a terminal")
	run(t, ctx, 30*time.Second, "exiting the shell", chromedp.SendKeys(chromedp.CSS("#term"), "exit 3\r"))
	waitJS(t, ctx, 30*time.Second, "the shell's exit in the page", `document.querySelector('#term-status').textContent.includes('exited with 3')`)

	// Stop it from the page.
	run(t, ctx, 30*time.Second, "stopping", chromedp.Click(chromedp.CSS(`#ctr-actions button[data-act="stop"]`)))
	waitJS(t, ctx, 60*time.Second, "the stop reaching the page", `document.querySelector('#ctr-state').textContent.startsWith('exited')`)
	if st := inspect(t, e.d, "{{.State.Status}}", "console-web"); st != "exited" {
		t.Fatalf("after Stop in the console the container is %s", st)
	}
	run(t, ctx, 30*time.Second, "back to the list", chromedp.Navigate(e.url("/console/#/containers")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="console-web"]`)))
	waitJS(t, ctx, 30*time.Second, "the list showing it exited", `document.querySelector('tr[data-name="console-web"] td.state').textContent === 'exited'`)

	// Images, networks, volumes.
	e.d.MustWharf(t, "volume", "create", "console-vol")
	for _, p := range []struct{ hash, ready, name string }{
		{"#/images", "table tbody tr", "04-images"},
		{"#/networks", "table tbody tr", "05-networks"},
		{"#/volumes", "table tbody tr", "06-volumes"},
	} {
		run(t, ctx, 30*time.Second, "opening "+p.hash, chromedp.Navigate(e.url("/console/"+p.hash)), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		screenshot(t, ctx, dir, p.name)
		checkAccessibility(t, ctx, p.hash)
	}
	run(t, ctx, 30*time.Second, "opening an image", chromedp.Navigate(e.url("/console/#/images")),
		chromedp.Click(chromedp.CSS("table tbody tr a")), chromedp.WaitVisible(chromedp.CSS("h2")))
	waitJS(t, ctx, 30*time.Second, "the image's users and history", `document.body.textContent.includes('console-web') && document.body.textContent.includes('History')`)
	screenshot(t, ctx, dir, "07-image")
	checkAccessibility(t, ctx, "image")

	// A function: deploy, invoke with a test event from the page.
	e.deployFunction(t, "console-fn")
	run(t, ctx, 30*time.Second, "opening the functions", chromedp.Navigate(e.url("/console/#/functions")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="console-fn"]`)))
	screenshot(t, ctx, dir, "08-functions")
	checkAccessibility(t, ctx, "functions")
	run(t, ctx, 30*time.Second, "opening the function", chromedp.Click(chromedp.CSS(`tr[data-name="console-fn"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#invoke")))
	run(t, ctx, 30*time.Second, "writing a test event",
		chromedp.SetValue(chromedp.CSS("#event"), `{"key1": "from-the-console", "print": "console-log-line"}`),
		chromedp.SetValue(chromedp.CSS("#event-name"), "my-event"),
		chromedp.Click(chromedp.CSS("#save-event")),
		chromedp.Click(chromedp.CSS("#invoke")))
	waitJS(t, ctx, 60*time.Second, "the invocation's result", `document.querySelector('#invoke-payload')?.textContent.includes('from-the-console')`)
	waitJS(t, ctx, 10*time.Second, "the invocation's log tail", `document.querySelector('#invoke-log').textContent.includes('console-log-line') && document.querySelector('#invoke-log').textContent.includes('REPORT RequestId')`)
	waitJS(t, ctx, 10*time.Second, "the saved event", `[...document.querySelectorAll('#saved option')].some(o => o.value === 'my-event')`)
	// The chart counts it once the sampler has taken the next sample
	// (every 5 s), live over its stream.
	waitJS(t, ctx, 60*time.Second, "the invocation on the chart", `Number(document.querySelector('#chart-inv .total')?.dataset.total) >= 1`)
	waitJS(t, ctx, 30*time.Second, "a REPORT line", `document.querySelector('#reports').textContent.includes('REPORT RequestId')`)
	screenshot(t, ctx, dir, "09-function")
	checkAccessibility(t, ctx, "function")

	// The registry: an image pushed now is listed, with its tag.
	rc := &regClient{addr: e.regAddr, pw: loginPassword(t, e.d, e.id)}
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(rc.ref(t, "console/app:v1"), img, rc.opts()...); err != nil {
		t.Fatalf("pushing to the registry: %v", err)
	}
	dg, _ := img.Digest()
	run(t, ctx, 30*time.Second, "opening the registry", chromedp.Navigate(e.url("/console/#/registry")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-repo="console/app"]`)))
	screenshot(t, ctx, dir, "11-registry")
	checkAccessibility(t, ctx, "registry")
	run(t, ctx, 30*time.Second, "opening the repository", chromedp.Click(chromedp.CSS(`tr[data-repo="console/app"] a`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-digest="%s"]`, dg))))
	waitJS(t, ctx, 10*time.Second, "the pushed image's tag", fmt.Sprintf(`document.querySelector('tr[data-digest="%s"]').textContent.includes('v1')`, dg))
	screenshot(t, ctx, dir, "12-repository")
	checkAccessibility(t, ctx, "repository")

	// The cluster page of a daemon in no cluster says so.
	run(t, ctx, 30*time.Second, "opening the cluster", chromedp.Navigate(e.url("/console/#/cluster")),
		chromedp.WaitVisible(chromedp.CSS("#no-cluster")))
	screenshot(t, ctx, dir, "13-cluster")
	checkAccessibility(t, ctx, "cluster")

	// Batch: a queue and a job submitted with the SDK are listed.
	be := &batchEnv{d: e.d, addr: e.addr, c: batch.New(batch.Options{BaseEndpoint: aws.String("http://" + e.addr), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(e.id, e.secret, ""), Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient()})}
	be.setup(t, 2)
	be.submit(t, &batch.SubmitJobInput{JobName: aws.String("console-job")})
	run(t, ctx, 30*time.Second, "opening Batch", chromedp.Navigate(e.url("/console/#/batch")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="console-job"]`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-queue="q"]`)))
	screenshot(t, ctx, dir, "14-batch")
	checkAccessibility(t, ctx, "batch")

	// A phone's screen.
	run(t, ctx, 30*time.Second, "a phone's viewport", chromedp.EmulateViewport(390, 844), chromedp.Navigate(e.url("/console/#/containers")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="console-web"]`)))
	overflow := browserValue(t, ctx, 5*time.Second, "measuring", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if overflow {
		t.Error("the containers page scrolls sideways on a phone")
	}
	screenshot(t, ctx, dir, "10-phone-containers")
}

// deployFunction creates a zip function and waits until it is active.
func (e *consoleEnv) deployFunction(t *testing.T, name string) {
	t.Helper()
	(&fnEnv{d: e.d, addr: e.addr, client: e.lambdaClient}).deploy(t, name, 128, 10, nil)
}

// TestConsoleRefuses checks the console's API over plain HTTP: no session,
// a wrong secret, a missing or wrong CSRF token and a cross-origin call
// are refused, and refused calls change nothing.
func TestConsoleRefuses(t *testing.T) {
	e := startConsoleEnv(t)
	e.d.MustWharf(t, "run", "-d", "--name", "console-keep", busybox, "sleep", "1000")
	api := e.url("/console/api")

	// No session.
	for _, r := range []struct{ method, path string }{
		{"GET", "/docker/containers/json?all=1"}, {"POST", "/docker/containers/console-keep/stop"},
		{"GET", "/functions"}, {"GET", "/events"}, {"GET", "/metrics?scope=containers"},
		{"GET", "/registry/repositories"}, {"GET", "/cluster/nodes"}, {"GET", "/batch/jobs"},
		{"GET", "/containers/console-keep/exec"},
	} {
		req, _ := http.NewRequest(r.method, api+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d, want 401", r.method, r.path, resp.StatusCode)
		}
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	signIn := func(body string, hdr map[string]string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", api+"/session", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	good := fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":%q}`, e.id, e.secret)
	if resp, _ := signIn(fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":"wrong"}`, e.id), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong secret: %d, want 401", resp.StatusCode)
	}
	if resp, _ := signIn(good, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin sign-in: %d, want 403", resp.StatusCode)
	}
	resp, info := signIn(good, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, info)
	}
	csrf, _ := info["csrf"].(string)
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "wharf_console" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console/, bounded", ck)
	}
	if strings.Contains(resp.Header.Get("Set-Cookie"), e.secret) {
		t.Fatal("the secret is in the cookie")
	}

	do := func(method, path string, hdr map[string]string) int {
		req, _ := http.NewRequest(method, api+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("GET", "/docker/containers/json?all=1", nil); code != http.StatusOK {
		t.Fatalf("a read with the session: %d", code)
	}
	// The exec terminal's WebSocket: refused without a session, from
	// another origin or none, and closed without a shell on a wrong CSRF
	// token; with all of them, it runs a shell.
	checkTerminalRefusals(t, e, jar, csrf)

	for name, hdr := range map[string]map[string]string{
		"no CSRF token":    nil,
		"a bad CSRF token": {"X-Wharf-CSRF": csrf + "x"},
		"a cross origin":   {"X-Wharf-CSRF": csrf, "Origin": "http://evil.example"},
	} {
		if code := do("POST", "/docker/containers/console-keep/stop", hdr); code != http.StatusForbidden {
			t.Errorf("a stop with %s: %d, want 403", name, code)
		}
		if code := do("DELETE", "/docker/containers/console-keep?force=1", hdr); code != http.StatusForbidden {
			t.Errorf("a remove with %s: %d, want 403", name, code)
		}
	}
	if st := inspect(t, e.d, "{{.State.Status}}", "console-keep"); st != "running" {
		t.Fatalf("refused stops changed the container: %s", st)
	}
	// Routes outside the allowlist are not reached.
	if code := do("POST", "/docker/containers/create", map[string]string{"X-Wharf-CSRF": csrf}); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("a create through the console: %d, want 404 or 405", code)
	}
	if code := do("POST", "/docker/containers/console-keep/stop?t=0", map[string]string{"X-Wharf-CSRF": csrf}); code != http.StatusNoContent {
		t.Fatalf("a stop with the CSRF token: %d, want 204", code)
	}

	// A key whose policy allows Lambda only may not touch containers.
	var fnKey struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(e.d.MustWharf(t, "keys", "create", "--json")), &fnKey); err != nil {
		t.Fatal(err)
	}
	jar2, _ := cookiejar.New(nil)
	c = &http.Client{Jar: jar2, Timeout: 30 * time.Second}
	resp, info = signIn(fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":%q}`, fnKey.AccessKeyId, fnKey.SecretAccessKey), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in of a lambda key: %d", resp.StatusCode)
	}
	csrf2, _ := info["csrf"].(string)
	if code := do("GET", "/docker/containers/json?all=1", nil); code != http.StatusForbidden {
		t.Errorf("a lambda key listing containers: %d, want 403", code)
	}
	if code := do("POST", "/docker/containers/console-keep/start", map[string]string{"X-Wharf-CSRF": csrf2}); code != http.StatusForbidden {
		t.Errorf("a lambda key starting a container: %d, want 403", code)
	}
	if code := do("GET", "/functions", nil); code != http.StatusOK {
		t.Errorf("a lambda key listing functions: %d, want 200", code)
	}
	for _, p := range []string{"/registry/repositories", "/registry/images?repository=x", "/cluster/nodes", "/cluster/services", "/batch/queues", "/batch/jobs"} {
		if code := do("GET", p, nil); code != http.StatusForbidden {
			t.Errorf("a lambda key reading %s: %d, want 403", p, code)
		}
	}
	// Revoking the key ends its session at once.
	e.d.MustWharf(t, "keys", "rm", fnKey.AccessKeyId)
	if code := do("GET", "/functions", nil); code != http.StatusUnauthorized {
		t.Errorf("a revoked key's session: %d, want 401", code)
	}

	// A sign-in link works once.
	link := strings.TrimSpace(e.d.MustWharf(t, "console"))
	_, tok, ok := strings.Cut(link, "#link=")
	if !ok || !strings.HasPrefix(link, "http://"+e.addr+"/console/") {
		t.Fatalf("wharf console printed %q", link)
	}
	jar3, _ := cookiejar.New(nil)
	c = &http.Client{Jar: jar3, Timeout: 30 * time.Second}
	redeem := func() int {
		req, _ := http.NewRequest("POST", api+"/session/link", strings.NewReader(`{"token":`+strconv.Quote(tok)+`}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := redeem(); code != http.StatusOK {
		t.Fatalf("redeeming a link: %d", code)
	}
	if code := do("GET", "/docker/containers/json?all=1", nil); code != http.StatusOK {
		t.Errorf("a link session listing containers: %d", code)
	}
	if code := redeem(); code != http.StatusUnauthorized {
		t.Errorf("a link redeemed twice: %d, want 401", code)
	}
	logData, _ := os.ReadFile(e.d.LogPath)
	if strings.Contains(string(logData), tok) || strings.Contains(string(logData), e.secret) {
		t.Error("the daemon's log holds a secret or a link token")
	}
}

// checkTerminalRefusals opens the exec terminal of console-keep over a
// WebSocket as a browser would, and as an attacker's page would.
func checkTerminalRefusals(t *testing.T, e *consoleEnv, jar http.CookieJar, csrf string) {
	t.Helper()
	wsURL := "ws://" + e.addr + "/console/api/containers/console-keep/exec"
	own := "http://" + e.addr
	dial := func(c *http.Client, origin string) (*websocket.Conn, int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		return ws, code, err
	}
	withSession := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	for _, r := range []struct {
		what   string
		c      *http.Client
		origin string
		want   int
	}{
		{"without a session", &http.Client{Timeout: 30 * time.Second}, own, http.StatusUnauthorized},
		{"from another origin", withSession, "http://evil.example", http.StatusForbidden},
		{"without an Origin", withSession, "", http.StatusForbidden},
	} {
		ws, code, err := dial(r.c, r.origin)
		if err == nil {
			ws.CloseNow()
			t.Errorf("a terminal %s was opened", r.what)
			continue
		}
		if code != r.want {
			t.Errorf("a terminal %s: %d, want %d", r.what, code, r.want)
		}
	}
	execs := func() string { return inspect(t, e.d, "{{len .ExecIDs}}", "console-keep") }
	before := execs()
	// A wrong CSRF token in the first message closes it with no exec.
	ws, _, err := dial(withSession, own)
	if err != nil {
		t.Fatalf("opening a terminal with the session: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+csrf+`x","cols":80,"rows":24}`))
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("a terminal with a wrong CSRF token: %v, want a policy-violation close", err)
	}
	ws.CloseNow()
	if after := execs(); after != before {
		t.Errorf("a refused terminal created an exec (%s execs, %s before)", after, before)
	}
	// The right token: a shell that answers.
	ws, _, err = dial(withSession, own)
	if err != nil {
		t.Fatalf("opening a terminal with the session: %v", err)
	}
	defer ws.CloseNow()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+csrf+`","cols":80,"rows":24}`))
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"echo ws-$((20+22))\r"}`))
	var out strings.Builder
	for !strings.Contains(out.String(), "ws-42\r\n") {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading the terminal: %v (so far %q)", err, out.String())
		}
		if typ == websocket.MessageBinary {
			out.Write(data)
		}
	}
	// A terminal closed while a program runs ends it and its shell.
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"sleep 4242\r"}`))
	ws2, _, err := dial(withSession, own)
	if err != nil {
		t.Fatalf("opening a second terminal: %v", err)
	}
	_ = ws2.Write(ctx, websocket.MessageText, []byte(`{"csrf":"`+csrf+`","cols":80,"rows":24}`))
	_ = ws2.Write(ctx, websocket.MessageText, []byte(`{"i":"sleep 4343\r"}`))
	if !waitFor(30*time.Second, func() bool {
		return strings.Contains(e.d.MustWharf(t, "exec", "console-keep", "ps"), "sleep 4343")
	}) {
		t.Fatal("the second terminal's sleep did not start")
	}
	ws2.CloseNow()
	shells := func(ps string) (n int) {
		for _, l := range strings.Split(ps, "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), " sh") {
				n++
			}
		}
		return n
	}
	var ps string
	if !waitFor(30*time.Second, func() bool {
		ps = e.d.MustWharf(t, "exec", "console-keep", "ps")
		return !strings.Contains(ps, "sleep 4343") && shells(ps) == 1
	}) {
		t.Errorf("a closed terminal's program or shell still runs:\n%s", ps)
	}
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"\u0003"}`))
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"i":"exit 7\r"}`))
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("the shell's exit was not told before the close: %v", err)
		}
		if typ == websocket.MessageText {
			if string(data) != `{"exit":7}` {
				t.Errorf("the shell's end: %s, want {\"exit\":7}", data)
			}
			break
		}
	}
}
