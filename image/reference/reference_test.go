package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                             "busybox:latest",
		"busybox:1.36":                        "busybox:1.36",
		"busybox:Latest":                      "busybox:Latest",
		"library/busybox":                     "busybox:latest",
		"docker.io/busybox":                   "busybox:latest",
		"docker.io/library/busybox:1":         "busybox:1",
		"index.docker.io/library/busybox":     "busybox:latest",
		"user/app:v1.0_rc-2":                  "user/app:v1.0_rc-2",
		"docker.io/library/a/b":               "library/a/b:latest",
		"localhost/x":                         "localhost/x:latest",
		"localhost:5000/a/b:t":                "localhost:5000/a/b:t",
		"127.0.0.1:5000/x/y:t":                "127.0.0.1:5000/x/y:t",
		"registry.example.com/ns/app":         "registry.example.com/ns/app:latest",
		"foo.bar/a__b/c-d/e--f/g.h_i":         "foo.bar/a__b/c-d/e--f/g.h_i:latest",
		"busybox@" + dgst:                     "busybox@" + dgst,
		"busybox:1@" + dgst:                   "busybox@" + dgst,
		"localhost:5000/app@" + dgst:          "localhost:5000/app@" + dgst,
		"_x_/y":                               "", // see below: an error
		"x" + strings.Repeat("y", 300) + "/z": "",
	} {
		r, err := Parse(in)
		if want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", in, Familiar(r))
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := Familiar(r); got != want {
			t.Errorf("Parse(%q) = %s, want %s", in, got, want)
		}
	}
}

// A reference dockerd refuses is refused with dockerd's message
// (distribution/reference's), and ErrInvalidArgument.
func TestParseErrors(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for in, msg := range map[string]string{
		"":                   "invalid reference format",
		"Busybox":            "invalid reference format: repository name (library/Busybox) must be lowercase",
		"user/App:1":         "invalid reference format: repository name (user/App) must be lowercase",
		"localhost:5000/Foo": "invalid reference format: repository name (Foo) must be lowercase",
		hex64:                "invalid repository name (" + hex64 + "), cannot specify 64-byte hexadecimal strings",
		"a b":                "invalid reference format",
		"foo:bar:baz":        "invalid reference format",
		"busybox@sha256:abc": "invalid reference format",
		// name accepts these; Docker's grammar does not.
		"foo//bar":                             "invalid reference format",
		"foo/":                                 "invalid reference format",
		"foo/-bar":                             "invalid reference format",
		"-foo":                                 "invalid reference format",
		"foo..bar":                             "invalid reference format",
		"foo___bar":                            "invalid reference format",
		"foo-":                                 "invalid reference format",
		"busybox:-x":                           "invalid reference format",
		"busybox:.x":                           "invalid reference format",
		"busybox:" + strings.Repeat("t", 129):  "invalid reference format",
		"x/" + strings.Repeat("y", 260) + "/z": "repository name must not be more than 255 characters",
	} {
		_, err := Parse(in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != msg+": "+errdefs.ErrInvalidArgument.Error() {
			t.Errorf("Parse(%q): %v, want %q", in, err, msg)
		}
	}
}

func TestWithTag(t *testing.T) {
	for _, tc := range []struct{ repo, tag, want, err string }{
		{"busybox", "", "busybox:latest", ""},
		{"busybox", "1", "busybox:1", ""},
		{"busybox:old", "new", "busybox:new", ""},
		{"busybox:old", "", "busybox:old", ""},
		{"localhost:5000/x", "t", "localhost:5000/x:t", ""},
		{"", "t", "", "repository name must have at least one component"},
		{"busybox@" + dgst, "", "", "cannot import digest reference"},
		{"busybox", "-x", "", "invalid tag format"},
		{"busybox", "a:b", "", "invalid tag format"},
		{"Busybox", "1", "", "invalid reference format: repository name (library/Busybox) must be lowercase"},
	} {
		got, err := WithTag(tc.repo, tc.tag)
		switch {
		case tc.err != "":
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), tc.err+":") {
				t.Errorf("WithTag(%q, %q): %v, want %q", tc.repo, tc.tag, err, tc.err)
			}
		case err != nil:
			t.Errorf("WithTag(%q, %q): %v", tc.repo, tc.tag, err)
		case Familiar(got) != tc.want:
			t.Errorf("WithTag(%q, %q) = %s, want %s", tc.repo, tc.tag, Familiar(got), tc.want)
		}
	}
}

func TestWithTagOrDigest(t *testing.T) {
	for _, tc := range []struct{ from, tag, want, err string }{
		{"busybox", "", "busybox:latest", ""},
		{"busybox:", "", "busybox:latest", ""}, // pull -a
		{"busybox", "1.36", "busybox:1.36", ""},
		{"busybox:1", "2", "busybox:2", ""},
		{"busybox", dgst, "busybox@" + dgst, ""},
		{"busybox@" + dgst, "", "busybox@" + dgst, ""},
		{"busybox", "sha256:abc", "", "invalid tag format"},
		{"busybox", "-x", "", "invalid tag format"},
		{"UPPER", "", "", "invalid reference format: repository name (library/UPPER) must be lowercase"},
	} {
		got, err := WithTagOrDigest(tc.from, tc.tag)
		switch {
		case tc.err != "":
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), tc.err+":") {
				t.Errorf("WithTagOrDigest(%q, %q): %v, want %q", tc.from, tc.tag, err, tc.err)
			}
		case err != nil:
			t.Errorf("WithTagOrDigest(%q, %q): %v", tc.from, tc.tag, err)
		case Familiar(got) != tc.want:
			t.Errorf("WithTagOrDigest(%q, %q) = %s, want %s", tc.from, tc.tag, Familiar(got), tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string][3]string{
		"busybox":              {"busybox", "docker.io/library/busybox", "library/busybox"},
		"user/app":             {"user/app", "docker.io/user/app", "user/app"},
		"library/a/b":          {"library/a/b", "docker.io/library/a/b", "library/a/b"},
		"127.0.0.1:5000/x/y:t": {"127.0.0.1:5000/x/y", "127.0.0.1:5000/x/y", "x/y"},
	} {
		r, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		got := [3]string{FamiliarName(r.Context()), FullName(r.Context()), Path(r.Context())}
		if got != want {
			t.Errorf("%s: familiar, full, path = %q, want %q", in, got, want)
		}
	}
}
