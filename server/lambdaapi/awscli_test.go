package lambdaapi

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/api/lambda"
)

// TestAWSCLI drives the API with the aws CLI (botocore), when it is
// installed: another client's idea of paths, trailing slashes, signing
// and error parsing.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI a dozen times")
	}
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newEnv(t)
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "fn.zip")
	if err := os.WriteFile(zipPath, testZip(t, "#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aws := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", e.srv.URL, "--region", "us-east-1", "--output", "json", "lambda"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+e.key.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	out, errOut, err := aws("create-function", "--function-name", "hello", "--runtime", "provided.al2023", "--role", "arn:aws:iam::000000000000:role/x",
		"--handler", "bootstrap", "--zip-file", "fileb://"+zipPath, "--memory-size", "256", "--environment", "Variables={A=1}")
	if err != nil {
		t.Fatalf("create-function: %v\n%s\n%s", err, out, errOut)
	}
	var cfg lambda.FunctionConfiguration
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || cfg.MemorySize != 256 || cfg.Environment.Variables["A"] != "1" {
		t.Fatalf("create-function answered %s (%v)", out, err)
	}
	out, errOut, err = aws("list-functions")
	if err != nil || !strings.Contains(out, `"FunctionName": "hello"`) {
		t.Fatalf("list-functions: %v\n%s\n%s", err, out, errOut)
	}
	if _, errOut, err = aws("publish-version", "--function-name", "hello"); err != nil {
		t.Fatalf("publish-version: %v\n%s", err, errOut)
	}
	if _, errOut, err = aws("create-alias", "--function-name", "hello", "--name", "live", "--function-version", "1"); err != nil {
		t.Fatalf("create-alias: %v\n%s", err, errOut)
	}
	if _, errOut, err = aws("put-function-concurrency", "--function-name", "hello", "--reserved-concurrent-executions", "5"); err != nil {
		t.Fatalf("put-function-concurrency: %v\n%s", err, errOut)
	}
	result, payloadPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "in.json")
	os.WriteFile(payloadPath, []byte(`{"k":"v"}`), 0o644)
	// fileb:// sends the bytes as they are with aws CLI v1 and v2 alike.
	out, errOut, err = aws("invoke", "--function-name", "arn:aws:lambda:us-east-1:000000000000:function:hello:live",
		"--payload", "fileb://"+payloadPath, "--log-type", "Tail", result)
	if err != nil {
		t.Fatalf("invoke: %v\n%s\n%s", err, out, errOut)
	}
	var inv struct {
		StatusCode      int
		LogResult       string
		ExecutedVersion string
	}
	json.Unmarshal([]byte(out), &inv)
	logs, _ := base64.StdEncoding.DecodeString(inv.LogResult)
	payload, _ := os.ReadFile(result)
	if inv.StatusCode != 200 || inv.ExecutedVersion != "1" || string(payload) != `{"k":"v"}` || !strings.Contains(string(logs), "REPORT") {
		t.Fatalf("invoke answered %s, payload %q", out, payload)
	}
	_, errOut, err = aws("get-function", "--function-name", "missing")
	if err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Fatalf("get-function(missing): %v\n%s", err, errOut)
	}
	if _, errOut, err = aws("delete-function", "--function-name", "hello", "--qualifier", "1"); err == nil || !strings.Contains(errOut, "ResourceConflictException") {
		t.Fatalf("delete-function(aliased version): %v\n%s", err, errOut)
	}
	if _, errOut, err = aws("delete-function", "--function-name", "hello"); err != nil {
		t.Fatalf("delete-function: %v\n%s", err, errOut)
	}
}
