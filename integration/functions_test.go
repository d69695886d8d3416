package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// fnEnv is a daemon with its functions API on a loopback port and a
// Lambda client signed with a key the daemon issued.
type fnEnv struct {
	d      *testutil.Daemon
	addr   string
	client *lambda.Client
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startFnEnv(t *testing.T, daemonArgs ...string) *fnEnv {
	addr := freeAddr(t)
	d := testutil.StartDaemon(t, testutil.WithDaemonArgs(append([]string{"--http", addr, "--fn-idle-timeout", "3s", "--fn-async-ack-wait", "2s"}, daemonArgs...)...))
	e := &fnEnv{d: d, addr: addr}
	e.client = e.newClient(t)
	return e
}

// newClient is a Lambda client signed with a new key, made by `wharf keys
// create` with args (none: the default policy; "--admin"; "--policy" ...).
func (e *fnEnv) newClient(t *testing.T, args ...string) *lambda.Client {
	t.Helper()
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(e.d.MustWharf(t, append([]string{"keys", "create", "--json"}, args...)...)), &key); err != nil {
		t.Fatal(err)
	}
	return lambda.New(lambda.Options{
		BaseEndpoint: aws.String("http://" + e.addr), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyId, key.SecretAccessKey, ""),
		Retryer:     aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
	})
}

func (e *fnEnv) deploy(t *testing.T, name string, memory, timeout int32, env map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Role: aws.String("arn:aws:iam::000000000000:role/test"),
		Handler: aws.String("bootstrap"), MemorySize: aws.Int32(memory), Timeout: aws.Int32(timeout),
		Code: &types.FunctionCode{ZipFile: testutil.HelloZip(t)}, Environment: &types.Environment{Variables: env},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	w := lambda.NewFunctionActiveV2Waiter(e.client, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
}

type fnReply struct {
	Echo, RequestID, Function, Memory string
	Pid                               int
}

func (e *fnEnv) invoke(t *testing.T, name, payload string) (*lambda.InvokeOutput, fnReply) {
	t.Helper()
	out, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("invoke %s %s: %v", name, payload, err)
	}
	var r fnReply
	_ = json.Unmarshal(out.Payload, &r)
	return out, r
}

func TestFunctions(t *testing.T) {
	e := startFnEnv(t)
	e.deploy(t, "hello", 128, 3, nil)

	t.Run("SyncWarmAndTail", func(t *testing.T) {
		out, r := e.invoke(t, "hello", `{"key1":"v1"}`)
		if out.FunctionError != nil || r.Echo != "v1" || r.Function != "hello" || r.Memory != "128" || aws.ToString(out.ExecutedVersion) != "$LATEST" {
			t.Fatalf("result %s (error %v)", out.Payload, aws.ToString(out.FunctionError))
		}
		if r.Pid != 1 {
			t.Fatalf("the function is pid %d: not in a sandbox of its own", r.Pid)
		}
		tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if !strings.Contains(string(tail), "REPORT RequestId: "+r.RequestID) || !strings.Contains(string(tail), "Init Duration") {
			t.Fatalf("tail of a cold start:\n%s", tail)
		}
		// Warm: the same sandbox (same container, hence the same log
		// stream), and no Init Duration.
		out2, r2 := e.invoke(t, "hello", `{"key1":"v2","print":"warm-line"}`)
		tail2, _ := base64.StdEncoding.DecodeString(aws.ToString(out2.LogResult))
		if r2.Echo != "v2" || strings.Contains(string(tail2), "Init Duration") || !strings.Contains(string(tail2), "warm-line") {
			t.Fatalf("warm invoke: %s\n%s", out2.Payload, tail2)
		}
		m := e.d.MustWharf(t, "fn", "metrics", "hello")
		if !strings.Contains(m, "COLD STARTS") || !strings.Contains(m, "INVOCATIONS") {
			t.Fatalf("metrics:\n%s", m)
		}
	})

	t.Run("ClientContext", func(t *testing.T) {
		// The aws SDK's ClientContext (base64 JSON) reaches a function
		// built with aws-lambda-go as lambdacontext.ClientContext.
		cc := `{"client":{"installation_id":"i-1","app_title":"wharf","app_version_code":"7","app_package_name":"p"},"env":{"locale":"fr"},"custom":{"k":"v"}}`
		out, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{}`),
			ClientContext: aws.String(base64.StdEncoding.EncodeToString([]byte(cc)))})
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ClientContext struct {
				Client struct {
					InstallationID string `json:"installation_id"`
					AppTitle       string `json:"app_title"`
					AppVersionCode string `json:"app_version_code"`
					AppPackageName string `json:"app_package_name"`
				}
				Env, Custom map[string]string
			} `json:"clientContext"`
		}
		if err := json.Unmarshal(out.Payload, &r); err != nil {
			t.Fatal(err)
		}
		c := r.ClientContext
		if c.Client.InstallationID != "i-1" || c.Client.AppTitle != "wharf" || c.Client.AppVersionCode != "7" || c.Client.AppPackageName != "p" ||
			c.Env["locale"] != "fr" || c.Custom["k"] != "v" {
			t.Fatalf("the function saw %s", out.Payload)
		}
		_, err = e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{}`), ClientContext: aws.String("not base64!")})
		var bad *types.InvalidRequestContentException
		if !errors.As(err, &bad) {
			t.Fatalf("a client context that is not base64: %v", err)
		}
	})

	t.Run("HandledErrorTimeoutOOMInit", func(t *testing.T) {
		out, _ := e.invoke(t, "hello", `{"fail":"boom"}`)
		if aws.ToString(out.FunctionError) == "" || !strings.Contains(string(out.Payload), "boom") {
			t.Fatalf("handled error: %s", out.Payload)
		}
		e.deploy(t, "slow", 128, 1, nil)
		out, _ = e.invoke(t, "slow", `{"sleepMs":3000}`)
		if aws.ToString(out.FunctionError) == "" || !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
			t.Fatalf("timeout: %s", out.Payload)
		}
		e.deploy(t, "hungry", 128, 10, nil)
		out, _ = e.invoke(t, "hungry", `{"allocMB":400}`)
		if aws.ToString(out.FunctionError) == "" || !strings.Contains(string(out.Payload), "Runtime.") {
			t.Fatalf("OOM: %s", out.Payload)
		}
		e.deploy(t, "crash", 128, 3, map[string]string{"HELLOFN_MODE": "crash-init"})
		out, _ = e.invoke(t, "crash", `{}`)
		if aws.ToString(out.FunctionError) == "" || !strings.Contains(string(out.Payload), "Runtime.ExitError") {
			t.Fatalf("init crash: %s", out.Payload)
		}
	})

	t.Run("ThrottleAndScaleOut", func(t *testing.T) {
		e.deploy(t, "limited", 128, 5, nil)
		if _, err := e.client.PutFunctionConcurrency(context.Background(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("limited"), ReservedConcurrentExecutions: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { e.invoke(t, "limited", `{"sleepMs":1500}`); close(done) }()
		time.Sleep(700 * time.Millisecond)
		_, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("limited"), Payload: []byte(`{}`)})
		var tmr *types.TooManyRequestsException
		if !errors.As(err, &tmr) {
			t.Fatalf("second invoke at concurrency 1: %v", err)
		}
		<-done

		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{"sleepMs":300}`)})
				if err != nil {
					t.Errorf("concurrent invoke: %v", err)
				} else if out.FunctionError != nil {
					t.Errorf("concurrent invoke: %s: %s", aws.ToString(out.FunctionError), out.Payload)
				}
			}()
		}
		wg.Wait()
		m := e.d.MustWharf(t, "fn", "metrics", "hello")
		var total, warm int
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, "SANDBOXES") {
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "SANDBOXES")), "%d (%d warm)", &total, &warm)
			}
		}
		if total < 2 {
			t.Fatalf("20 concurrent invokes ran in %d sandboxes:\n%s", total, m)
		}
	})

	t.Run("IdleReap", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if strings.TrimSpace(e.d.MustWharf(t, "ps", "-q", "--filter", "label=wharf.function=hello")) == "" {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("idle sandboxes of hello still run:\n%s", e.d.MustWharf(t, "ps", "--filter", "label=wharf.function=hello"))
	})

	t.Run("HTTPRouteAndSchedule", func(t *testing.T) {
		e.d.MustWharf(t, "fn", "route", "add", "GET", "/users/{id}", "hello")
		resp, err := http.Get("http://" + e.addr + "/users/42")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// hello answers with its reply object (no statusCode): a 200 JSON body.
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"requestId"`) {
			t.Fatalf("route: %d %s", resp.StatusCode, body)
		}
		e.d.MustWharf(t, "fn", "schedule", "add", "tick", "rate(1 second)", "hello")
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(e.d.MustWharf(t, "fn", "logs", "hello"), "event: Scheduled Event") {
				e.d.MustWharf(t, "fn", "schedule", "rm", "tick")
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatal("rate(1 second) never invoked the function")
	})

	t.Run("UnsignedRefused", func(t *testing.T) {
		resp, err := http.Post("http://"+e.addr+"/2015-03-31/functions/hello/invocations", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("unsigned invoke: %d", resp.StatusCode)
		}
	})

	t.Run("AsyncSurvivesDaemonKill", func(t *testing.T) {
		e.deploy(t, "asyncfn", 128, 10, nil)
		out, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("asyncfn"), InvocationType: types.InvocationTypeEvent,
			Payload: []byte(`{"sleepMs":1500,"print":"async-survived-marker"}`)})
		if err != nil || out.StatusCode != 202 {
			t.Fatalf("async invoke: %v", err)
		}
		// The daemon dies while the event runs (or before it started).
		time.Sleep(300 * time.Millisecond)
		e.d.Kill9()
		e.d.Restart(t)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			logs := e.d.MustWharf(t, "fn", "logs", "asyncfn")
			if strings.Count(logs, "async-survived-marker") >= 1 && strings.Contains(logs, "REPORT RequestId") {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("the queued event never completed after the restart:\n%s", e.d.MustWharf(t, "fn", "logs", "asyncfn"))
	})
}
