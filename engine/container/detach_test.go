package container

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{
		"": {16, 17}, "ctrl-p,ctrl-q": {16, 17}, "ctrl-a,a": {1, 'a'}, "ctrl-x": {24},
		"ctrl-@,ctrl-[,ctrl-_,DEL": {0, 27, 31, 127},
	} {
		got, err := ParseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-1", "ctrl", "ab", "ctrl-p,,"} {
		if _, err := ParseDetachKeys(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

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
			got, err := io.ReadAll(newDetachReader(r, defaultDetachKeys, func() { n++ }))
			if string(got) != c.want || (n == 1) != c.detached || c.detached != errors.Is(err, errDetached) {
				t.Errorf("%q (one byte %v): %q, detached %d, %v", c.in, oneByte, got, n, err)
			}
		}
	}
}
