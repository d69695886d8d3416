package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// The keys are found whether they come in one read or byte by byte, are
// never passed on, and a partial sequence followed by other input is
// passed on as typed.
func TestDetachReader(t *testing.T) {
	for _, c := range []struct {
		in, want string
		detached bool
	}{
		{"abc\x10\x11ignored", "abc", true},
		{"a\x10b\x10\x11", "a\x10b", true},
		{"\x10\x10\x11", "\x10", true},
		{"plain\x10", "plain\x10", false},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewBufferString(c.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			n := 0
			got, err := io.ReadAll(NewDetachReader(r, DefaultDetachKeys, func() { n++ }))
			if string(got) != c.want || (n == 1) != c.detached || c.detached != errors.Is(err, ErrDetached) {
				t.Errorf("%q (one byte %v): %q, detached %d, %v", c.in, oneByte, got, n, err)
			}
			// A client watching what it forwards sees the same.
			seen := 0
			r = bytes.NewBufferString(c.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			all, _ := io.ReadAll(WatchKeys(r, DefaultDetachKeys, func() { seen++ }))
			if string(all) != c.in || (seen == 1) != c.detached {
				t.Errorf("watch %q (one byte %v): %q, seen %d", c.in, oneByte, all, seen)
			}
		}
	}
}
