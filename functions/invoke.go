package functions

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/runtimeapi"
)

// counters are a function's metrics.
type counters struct {
	mu          sync.Mutex
	invocations int64
	errors      int64
	throttles   int64
	coldStarts  int64
	concurrent  int64
	durations   []float64 // ring of recent durations in ms
	next        int
}

const durationRing = 1024

func (c *counters) observe(d time.Duration, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invocations++
	if failed {
		c.errors++
	}
	ms := float64(d.Microseconds()) / 1000
	if len(c.durations) < durationRing {
		c.durations = append(c.durations, ms)
	} else {
		c.durations[c.next%durationRing] = ms
	}
	c.next++
}

func (e *Engine) countersFor(name string) *counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.metrics[name]
	if !ok {
		c = &counters{}
		e.metrics[name] = c
	}
	return c
}

func (e *Engine) logFor(name string) (*funcLog, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.logs[name]; ok {
		return l, nil
	}
	l, err := openFuncLog(e.LogPath(name), e.logLimits)
	if err != nil {
		return nil, err
	}
	e.logs[name] = l
	return l, nil
}

// LogPath is where a function's log is written; rotated files get .1,
// .2, ... after it.
func (e *Engine) LogPath(name string) string { return filepath.Join(e.st.root, "logs", name+".log") }

func poolKey(name, version, revision string) string {
	return name + "\x00" + version + "\x00" + revision
}
func poolName(key string) string    { return strings.SplitN(key, "\x00", 3)[0] }
func poolVersion(key string) string { return strings.SplitN(key, "\x00", 3)[1] }

func (e *Engine) poolFor(key string) *pool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.pools[key]
	if !ok {
		p = &pool{}
		e.pools[key] = p
	}
	return p
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func sortConfigs(cs []*Config) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].FunctionName < cs[j].FunctionName })
}

// lambdaEnv is the environment Lambda gives a function's runtime.
func lambdaEnv(c *Config, version string) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"AWS_REGION=" + DefaultRegion,
		"AWS_DEFAULT_REGION=" + DefaultRegion,
		"AWS_LAMBDA_FUNCTION_NAME=" + c.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + fmt.Sprint(c.MemorySize),
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

// Invoke implements Service.
func (e *Engine) Invoke(ctx context.Context, in InvokeInput) (*InvokeOutput, error) {
	e.st.mu.Lock()
	r, err := e.st.get(in.FunctionName)
	if err != nil {
		e.st.mu.Unlock()
		return nil, err
	}
	c, version, err := r.resolve(in.Qualifier)
	reserved := r.Latest.ReservedConcurrency
	e.st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if c.State != StateActive {
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s (%s): %w", c.State, c.StateReason, errors.Join(ErrNotReady, errdefs.ErrConflict))
	}
	typ := in.Type
	if typ == "" {
		typ = InvocationSync
	}
	switch typ {
	case InvocationSync:
		if len(in.Payload) > MaxSyncPayload {
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeFunction operation: %w", MaxSyncPayload, errors.Join(ErrTooLarge, errdefs.ErrInvalidArgument))
		}
	case InvocationEvent:
		if len(in.Payload) > MaxAsyncPayload {
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeAsync operation: %w", MaxAsyncPayload, errors.Join(ErrTooLarge, errdefs.ErrInvalidArgument))
		}
		e.mu.Lock()
		q := e.async
		e.mu.Unlock()
		if q == nil {
			return nil, fmt.Errorf("asynchronous invocations need the daemon's event queue, which is not running: %w", errdefs.ErrUnavailable)
		}
		in.RequestID = newRequestID()
		in.Qualifier = version
		if err := q.Enqueue(ctx, in); err != nil {
			return nil, err
		}
		return &InvokeOutput{StatusCode: 202, ExecutedVersion: version, RequestID: in.RequestID}, nil
	case InvocationDryRun:
		return &InvokeOutput{StatusCode: 204, ExecutedVersion: version}, nil
	default:
		return nil, fmt.Errorf("invalid invocation type %q: %w", typ, errdefs.ErrInvalidArgument)
	}
	if len(in.Payload) > 0 && !json.Valid(in.Payload) {
		return nil, fmt.Errorf("Could not parse request body into json: %w", errdefs.ErrInvalidArgument)
	}
	limit := e.defaultLimit
	if reserved != nil {
		limit = *reserved
	}
	return e.invokeSync(ctx, &c, version, limit, in)
}

func (e *Engine) invokeSync(ctx context.Context, c *Config, version string, limit int, in InvokeInput) (*InvokeOutput, error) {
	m := e.countersFor(c.FunctionName)
	key := poolKey(c.FunctionName, version, c.RevisionID)
	p := e.poolFor(key)
	inst, ok := p.acquire(limit)
	if !ok {
		m.mu.Lock()
		m.throttles++
		m.mu.Unlock()
		e.prom.throttles.WithLabelValues(c.FunctionName).Inc()
		return nil, fmt.Errorf("Rate Exceeded.: %w", errors.Join(ErrThrottled, errdefs.ErrUnavailable))
	}
	m.mu.Lock()
	m.concurrent++
	m.mu.Unlock()
	gauge := e.prom.concurrent.WithLabelValues(c.FunctionName)
	gauge.Inc()
	defer func() {
		m.mu.Lock()
		m.concurrent--
		m.mu.Unlock()
		gauge.Dec()
	}()

	reqID := in.RequestID
	if reqID == "" {
		reqID = newRequestID()
	}
	coldNow := inst == nil
	if inst == nil {
		var err error
		inst, err = e.launch(ctx, c, version)
		if err != nil {
			p.drop()
			return e.initFailure(c, version, reqID, err)
		}
		m.mu.Lock()
		m.coldStarts++
		m.mu.Unlock()
		e.prom.coldStarts.WithLabelValues(c.FunctionName).Inc()
	} else if thawed, err := inst.wake(); err != nil {
		p.drop()
		inst.retire()
		_ = inst.sb.Close(context.Background())
		return nil, fmt.Errorf("thawing sandbox: %w", err)
	} else if thawed && e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.Debug("sandbox thawed", "function", c.FunctionName, "idle", e.now().Sub(inst.lastUsed))
	}
	if !coldNow && !inst.used {
		// Started ahead of demand (prewarm.go): still this invocation's
		// cold start.
		m.mu.Lock()
		m.coldStarts++
		m.mu.Unlock()
		e.prom.coldStarts.WithLabelValues(c.FunctionName).Inc()
	}

	// Only a Tail invocation keeps its output apart.
	var tail bytes.Buffer
	if in.LogTail {
		inst.out.capture(&tail)
	}
	inst.out.start("START RequestId: " + reqID + " Version: " + version)
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, time.Duration(c.Timeout)*time.Second)
	res, err := e.invokeOn(tctx, inst, runtimeapi.Invocation{
		RequestID: reqID, Payload: in.Payload, Deadline: start.Add(time.Duration(c.Timeout) * time.Second),
		FunctionARN: c.FunctionArn, TraceID: fmt.Sprintf("Root=1-%08x-%s", start.Unix(), reqID[:24]),
	})
	cancel()
	dur := time.Since(start)
	healthy := err == nil
	out := &InvokeOutput{StatusCode: 200, ExecutedVersion: version, RequestID: reqID}
	switch {
	case err == nil:
		out.Payload = res.Payload
		if res.FunctionError {
			out.FunctionError = FunctionErrorUnhandl
		}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		msg := fmt.Sprintf("%s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), float64(c.Timeout))
		inst.out.line(msg)
		out.Payload = errorPayload("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", reqID, float64(c.Timeout)))
		out.FunctionError = FunctionErrorUnhandl
	case errors.Is(err, errSandboxExited):
		typ, msg := "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason", reqID)
		if inst.sb.OOMKilled() {
			typ, msg = "Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: signal: killed", reqID)
		}
		inst.out.line(msg)
		out.Payload = errorPayload(typ, msg)
		out.FunctionError = FunctionErrorUnhandl
	default:
		p.drop()
		inst.out.flush()
		inst.out.capture(nil)
		inst.retire()
		_ = inst.sb.Close(context.Background())
		return nil, err
	}
	var init time.Duration
	if !inst.used {
		init = inst.initDuration
	}
	inst.used = true
	if in.LogTail {
		inst.out.settle(start.Add(dur))
	}
	// END and REPORT in one write.
	inst.out.lineBytes(appendEndReport(make([]byte, 0, 256), reqID, dur, c.MemorySize, inst.sb.MaxMemory(), init))
	inst.out.capture(nil)
	if in.LogTail {
		b := tail.Bytes()
		if len(b) > tailSize {
			b = b[len(b)-tailSize:]
		}
		out.LogResult = base64.StdEncoding.EncodeToString(b)
	}
	m.observe(dur, out.FunctionError != "")
	e.prom.observe(c.FunctionName, dur, out.FunctionError != "")
	if healthy {
		inst.park()
		p.release(inst, e.now())
	} else {
		p.drop()
		inst.retire()
		go func() { _ = inst.sb.Close(context.Background()) }()
	}
	return out, nil
}

var errSandboxExited = errors.New("sandbox exited")

// appendEndReport appends an invocation's END and REPORT lines (the
// latter with Init Duration when init > 0) as Lambda writes them, without
// a trailing newline.
func appendEndReport(b []byte, reqID string, dur time.Duration, memoryMB int, maxMem uint64, init time.Duration) []byte {
	ms := func(b []byte, d time.Duration) []byte {
		return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 2, 64)
	}
	b = append(b, "END RequestId: "...)
	b = append(b, reqID...)
	b = append(b, "\nREPORT RequestId: "...)
	b = append(b, reqID...)
	b = append(b, "\tDuration: "...)
	b = ms(b, dur)
	b = append(b, " ms\tBilled Duration: "...)
	b = strconv.AppendInt(b, int64(math.Ceil(float64(dur.Microseconds())/1000)), 10)
	b = append(b, " ms\tMemory Size: "...)
	b = strconv.AppendInt(b, int64(memoryMB), 10)
	b = append(b, " MB\tMax Memory Used: "...)
	b = strconv.AppendUint(b, maxMem/(1024*1024), 10)
	b = append(b, " MB"...)
	if init > 0 {
		b = append(b, "\tInit Duration: "...)
		b = ms(b, init)
		b = append(b, " ms"...)
	}
	return b
}

// invokeOn runs one invocation, failing early if the sandbox dies.
func (e *Engine) invokeOn(ctx context.Context, inst *instance, inv runtimeapi.Invocation) (*runtimeapi.Result, error) {
	res, err := inst.sb.Runtime().InvokeUntil(ctx, inv, inst.sb.Exited())
	if errors.Is(err, runtimeapi.ErrAbandoned) {
		return nil, errSandboxExited
	}
	return res, err
}

// launch starts a sandbox and waits for its runtime's init.
func (e *Engine) launch(ctx context.Context, c *Config, version string) (*instance, error) {
	l, err := e.logFor(c.FunctionName)
	if err != nil {
		return nil, err
	}
	out := &sandboxOutput{log: l}
	spec := SandboxSpec{
		Function: c.FunctionName, Version: version, Env: lambdaEnv(c, version),
		MemoryMB: c.MemorySize, EphemeralMB: c.EphemeralStorage, Output: out,
	}
	if c.PackageType == PackageImage {
		spec.Image = c.ImageURI
	} else {
		spec.CodeDir = e.codeDirOf(c)
	}
	start := time.Now()
	sb, err := e.launcher.Launch(ctx, spec)
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
	if e.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"function", c.FunctionName, "total", inst.initDuration}
		if lp, ok := sb.(interface{ launchPhases() []any }); ok {
			attrs = append(attrs, lp.launchPhases()...)
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
func (e *Engine) initFailure(c *Config, version, reqID string, err error) (*InvokeOutput, error) {
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
	return &InvokeOutput{StatusCode: 200, Payload: payload, FunctionError: FunctionErrorUnhandl, ExecutedVersion: version, RequestID: reqID}, nil
}

// Metrics implements Service.
func (e *Engine) Metrics(ctx context.Context, name string) (*Metrics, error) {
	e.st.mu.Lock()
	_, err := e.st.get(name)
	e.st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c := e.countersFor(name)
	c.mu.Lock()
	m := &Metrics{Invocations: c.invocations, Errors: c.errors, Throttles: c.throttles, ColdStarts: c.coldStarts,
		Concurrent: c.concurrent, DurationsMs: append([]float64(nil), c.durations...)}
	c.mu.Unlock()
	e.mu.Lock()
	for key, p := range e.pools {
		if poolName(key) == name {
			idle, live := p.counts()
			m.SandboxesWarm += idle
			m.SandboxesTotal += live
		}
	}
	e.mu.Unlock()
	return m, nil
}

var _ Service = (*Engine)(nil)
