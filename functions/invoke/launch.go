package invoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/imagefn"
	"github.com/wharf-dev/wharf/functions/sandbox"
)

// launch starts a sandbox and waits for its runtime's init.
func (e *Engine) launch(ctx context.Context, c *functions.Config, version string) (*instance, error) {
	l, err := e.logFor(c.FunctionName)
	if err != nil {
		return nil, err
	}
	out := &sandboxOutput{log: l, stream: streamName(time.Now(), version)}
	spec := sandbox.Spec{
		Function: c.FunctionName, Version: version, Env: lambdaEnv(c, version),
		MemoryMB: c.MemorySize, EphemeralMB: c.EphemeralStorage, Output: out,
	}
	if c.PackageType == functions.PackageImage {
		if err := e.imageSpec(ctx, c, &spec); err != nil {
			return nil, err
		}
	} else {
		spec.CodeDir = e.st.CodeDir(c)
	}
	start := time.Now()
	sb, err := e.launcher.Launch(ctx, spec)
	if err != nil && c.PackageType == functions.PackageImage && ctx.Err() == nil {
		// The runtime could not even start (an entrypoint that is not
		// there or not executable): Lambda's answer is a function error.
		e.log.Warn("image function sandbox did not start", "function", c.FunctionName, "image", c.ResolvedImageURI, "after", time.Since(start), "err", err)
		return nil, &initError{typ: "Runtime.InvalidEntrypoint", msg: err.Error()}
	}
	if err != nil {
		return nil, err
	}
	// Lambda gives init 10 seconds.
	select {
	case <-sb.Runtime().Ready():
	case <-sb.Runtime().Failed():
		ie := sb.Runtime().InitError()
		_ = sb.Close(context.Background())
		return nil, &initError{typ: ie.ErrorType, payload: ie.Payload}
	case <-sb.Exited():
		_ = sb.Close(context.Background())
		return nil, &initError{typ: "Runtime.ExitError", msg: "Runtime exited without providing a reason"}
	case <-time.After(10 * time.Second):
		_ = sb.Close(context.Background())
		return nil, &initError{typ: "Sandbox.Timedout", msg: "init did not complete within 10 seconds"}
	case <-ctx.Done():
		_ = sb.Close(context.Background())
		return nil, ctx.Err()
	}
	inst := &instance{sb: sb, out: out, initDuration: time.Since(start)}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = sb.Close(context.Background())
		return nil, errClosed
	}
	e.live[inst] = struct{}{}
	e.mu.Unlock()
	if e.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"function", c.FunctionName, "total", inst.initDuration}
		if lp, ok := sb.(sandbox.Phased); ok {
			attrs = append(attrs, lp.LaunchPhases()...)
		}
		e.log.Debug("sandbox started", attrs...)
	}
	return inst, nil
}

type initError struct {
	typ, msg string
	payload  []byte
}

func (e *initError) Error() string { return e.typ + ": " + e.msg }

// initFailure turns a failed cold start into Lambda's answer: a function
// error of the init's type (the invocation is billed and logged as such).
func (e *Engine) initFailure(c *functions.Config, version, reqID string, err error) (*functions.InvokeOutput, error) {
	var ie *initError
	if !errors.As(err, &ie) {
		return nil, err
	}
	payload := ie.payload
	if len(payload) == 0 {
		payload = errorPayload(ie.typ, fmt.Sprintf("RequestId: %s Error: %s", reqID, ie.msg))
	}
	if l, lerr := e.logFor(c.FunctionName); lerr == nil {
		fmt.Fprintf(l, "INIT_REPORT Init Duration: failed Phase: init Status: error Error Type: %s\n", ie.typ)
	}
	e.countersFor(c.FunctionName).observe(0, true)
	e.prom.observe(c.FunctionName, 0, true)
	return &functions.InvokeOutput{StatusCode: 200, Payload: payload, FunctionError: functions.FunctionErrorUnhandl, ExecutedVersion: version, RequestID: reqID}, nil
}

// imageSpec completes the spec of an image function's sandbox: its pinned
// image, the command line and working directory from ImageConfig over the
// image's config, and the environment adjusted to the image's.
func (e *Engine) imageSpec(ctx context.Context, c *functions.Config, spec *sandbox.Spec) error {
	if c.ImageID == "" || e.images == nil {
		return fmt.Errorf("function %s has no resolved image: %w", c.FunctionName, errdefs.ErrUnavailable)
	}
	x, err := e.images.Exec(ctx, c, spec.Env)
	if err != nil {
		msg := err.Error()
		var ie *imagefn.Error
		if errors.As(err, &ie) {
			msg = ie.Reason
		}
		return &initError{typ: "Runtime.InvalidEntrypoint", msg: msg}
	}
	spec.Image, spec.Command, spec.WorkingDir, spec.Env = c.ImageID, x.Command, x.WorkingDir, x.Env
	return nil
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// lambdaEnv is the environment Lambda gives a function's runtime.
func lambdaEnv(c *functions.Config, version string) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"AWS_REGION=" + functions.DefaultRegion,
		"AWS_DEFAULT_REGION=" + functions.DefaultRegion,
		"AWS_LAMBDA_FUNCTION_NAME=" + c.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(c.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION=" + version,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + c.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME=wharf",
		"AWS_EXECUTION_ENV=AWS_Lambda_" + c.Runtime,
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
		"_HANDLER=" + c.Handler,
	}
	keys := make([]string, 0, len(c.Environment))
	for k := range c.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.Environment[k])
	}
	return env
}

// errorPayload is Lambda's error body for failures of the platform.
func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return b
}
