package procwait

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

func TestWaitReportsExitAfterTheProcessEnds(t *testing.T) {
	start := time.Now()
	if err := Run(exec.Command("sleep", "0.2")); err != nil {
		t.Fatalf("sleep 0.2: %v", err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("Run returned after %v, before the process ended", el)
	}
	err := Run(exec.Command("sh", "-c", "exit 7"))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exit 7: %v", err)
	}
	out, err := exec.Command("echo", "x").Output() // os/exec as usual
	if err != nil || string(out) != "x\n" {
		t.Fatalf("echo: %q %v", out, err)
	}
	cmd := exec.Command("echo", "copied")
	var buf []byte
	w := writerFunc(func(p []byte) (int, error) { buf = append(buf, p...); return len(p), nil })
	cmd.Stdout = w
	if err := Run(cmd); err != nil || string(buf) != "copied\n" {
		t.Errorf("output through a pipe: %q %v", buf, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
