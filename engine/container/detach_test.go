package container

import (
	"bytes"
	"testing"

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
