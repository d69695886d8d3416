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

func TestNextBackoff(t *testing.T) {
	base := time.Second
	for _, tc := range []struct {
		prev  int
		slept time.Duration
		want  int
	}{
		{0, 2 * time.Second, 1},  // woken soon: wait longer next time
		{3, 10 * time.Second, 4}, //
		{maxBackoff, time.Second, maxBackoff},
		{4, 45 * time.Second, 0}, // a long sleep starts over
		{0, time.Hour, 0},
	} {
		if got := nextBackoff(tc.prev, tc.slept, base); got != tc.want {
			t.Errorf("nextBackoff(%d, %v) = %d, want %d", tc.prev, tc.slept, got, tc.want)
		}
	}
}
