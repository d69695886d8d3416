package spec

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

func mkfifo(path string) error { return unix.Mkfifo(path, 0o644) }

func TestParseUlimit(t *testing.T) {
	for in, want := range map[string]Ulimit{
		"nofile=1024:2048": {"nofile", 1024, 2048},
		"nproc=512":        {"nproc", 512, 512},
		"core=-1":          {"core", -1, -1},
		"memlock=64:-1":    {"memlock", 64, -1},
		"stack=0:0":        {"stack", 0, 0},
	} {
		got, err := ParseUlimit(in)
		if err != nil || got != want {
			t.Errorf("ParseUlimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseUlimit(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q: %+v, %v", in, back, err)
		}
	}
	for _, in := range []string{"", "nofile", "nofile=", "nofile=a", "nofile=1:b", "nofile=1:2:3", "wings=1", "NOFILE=1", "nofile=2048:1024", "nofile=-1:1024"} {
		if _, err := ParseUlimit(in); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseUlimit(%q): err = %v, want invalid argument", in, err)
		}
	}
}

func FuzzParseUlimit(f *testing.F) {
	for _, s := range []string{"nofile=1024:2048", "nproc=512", "core=-1", "x=1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUlimit(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("unclassed error %v", err)
			}
			return
		}
		if _, err := rlimits([]Ulimit{u}); err != nil {
			t.Fatalf("parsed %q to %+v, which the spec rejects: %v", s, u, err)
		}
	})
}
