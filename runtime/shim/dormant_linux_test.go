package shim

import (
	"os"
	"testing"
	"time"
)

// rawFd must leave a pollable file pollable: the copier of a shim that
// stays awake (dormancy refused) still needs its read deadlines.
func TestRawFdKeepsDeadlines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := rawFd(r)
	if err != nil || fd < 0 {
		t.Fatalf("rawFd: %d, %v", fd, err)
	}
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatalf("deadline after rawFd: %v", err)
	}
	if _, err := r.Read(make([]byte, 1)); !os.IsTimeout(err) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if _, err := rawFd(struct{}{}); err == nil {
		t.Error("rawFd of a value without a descriptor succeeded")
	}
}
