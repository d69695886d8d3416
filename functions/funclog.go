package functions

import (
	"bytes"
	"os"
	"sync"
	"time"
)

// funcLog appends a function's log lines (START, the runtime's output,
// END, REPORT) to its file, like a CloudWatch log group of one stream.
type funcLog struct {
	mu sync.Mutex
	f  *os.File
}

func openFuncLog(path string) (*funcLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &funcLog{f: f}, nil
}

func (l *funcLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

func (l *funcLog) Close() error { return l.f.Close() }

// tailSize is how much log an invocation with LogType Tail returns.
const tailSize = 4096

// sandboxOutput receives one sandbox's stdout and stderr: everything goes
// to the function's log, and what arrives during an invocation is also
// kept for the Tail log of that invocation.
type sandboxOutput struct {
	log       *funcLog
	mu        sync.Mutex
	cap       *bytes.Buffer
	lastWrite time.Time
}

func (o *sandboxOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.lastWrite = time.Now()
	if o.cap != nil {
		o.cap.Write(p)
		if o.cap.Len() > 4*tailSize {
			b := o.cap.Bytes()
			o.cap = bytes.NewBuffer(append([]byte(nil), b[len(b)-tailSize:]...))
		}
	}
	o.mu.Unlock()
	return o.log.Write(p)
}

// settle waits until the sandbox's output has been quiet for a moment
// (bounded): output written before the runtime answered may still be in
// flight through a pipe. Only Tail invocations pay for it.
func (o *sandboxOutput) settle() {
	const quiet, max = 3 * time.Millisecond, 50 * time.Millisecond
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		idle := time.Since(o.lastWrite)
		o.mu.Unlock()
		if idle >= quiet {
			return
		}
		time.Sleep(quiet - idle)
	}
}

// capture starts (or with nil ends) collecting output for an invocation.
func (o *sandboxOutput) capture(b *bytes.Buffer) {
	o.mu.Lock()
	o.cap = b
	o.mu.Unlock()
}

// line writes a platform line (START, END, REPORT) to the log and the
// capture.
func (o *sandboxOutput) line(s string) {
	_, _ = o.Write([]byte(s + "\n"))
}
