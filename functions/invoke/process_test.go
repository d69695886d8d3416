package invoke_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox/process"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// The engine runs a real bootstrap, hellofn built with aws-lambda-go, as a
// host process: what the in-process sandboxes play, a real runtime does.
func TestRealBootstrap(t *testing.T) {
	e, err := invoke.New(t.TempDir(), process.Launcher{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	for name, env := range map[string]map[string]string{"hello": nil, "crasher": {"HELLOFN_MODE": "crash-init"}} {
		if _, err := e.Create(ctx, functions.CreateInput{
			Config: functions.Config{FunctionName: name, Runtime: "provided.al2023", Timeout: 1, Environment: env},
			Code:   functions.Code{ZipFile: testutil.HelloZip(t)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	out, r := invokeJSON(t, e, "hello", "", `{"key1":"v1","print":"from-the-bootstrap"}`)
	if out.FunctionError != "" || r.Echo != "v1" || r.RequestID != out.RequestID || r.Function != "hello" || r.Pid == 0 ||
		!strings.Contains(tail(t, out), "from-the-bootstrap") || !strings.Contains(tail(t, out), "Init Duration") {
		t.Fatalf("cold: %+v %s\n%s", r, out.Payload, tail(t, out))
	}
	if _, r2 := invokeJSON(t, e, "hello", "", `{"key1":"v2"}`); r2.Pid != r.Pid || r2.Echo != "v2" {
		t.Fatalf("warm ran elsewhere: %+v", r2)
	}
	// A client context reaches aws-lambda-go's lambdacontext.ClientContext.
	cc := `{"client":{"installation_id":"i-1","app_title":"wharf","app_version_code":"7","app_package_name":"p"},"env":{"locale":"fr"},"custom":{"k":"v"}}`
	ccOut, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{}`), ClientContext: cc})
	if err != nil {
		t.Fatal(err)
	}
	var ccReply struct {
		ClientContext json.RawMessage `json:"clientContext"`
	}
	if err := json.Unmarshal(ccOut.Payload, &ccReply); err != nil || !jsonEqual(t, ccReply.ClientContext, strings.Replace(cc, `"client"`, `"Client"`, 1)) {
		t.Fatalf("the function saw client context %s, want %s (%v)", ccReply.ClientContext, cc, err)
	}
	if out, _ := invokeJSON(t, e, "hello", "", `{"fail":"boom"}`); out.FunctionError == "" || !strings.Contains(string(out.Payload), "boom") {
		t.Fatalf("function error: %s", out.Payload)
	}
	if out, _ := invokeJSON(t, e, "hello", "", `{"sleepMs":3000}`); !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
		t.Fatalf("timeout: %s", out.Payload)
	}
	if _, r3 := invokeJSON(t, e, "hello", "", `{"key1":"v3"}`); r3.Pid == r.Pid || r3.Echo != "v3" {
		t.Fatalf("after the timeout: %+v", r3)
	}
	if out, _ := invokeJSON(t, e, "crasher", "", `{}`); !strings.Contains(string(out.Payload), "Runtime.ExitError") {
		t.Fatalf("init crash: %s", out.Payload)
	}
}

// jsonEqual reports whether two JSON documents hold the same values.
func jsonEqual(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
