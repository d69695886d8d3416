package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// FuzzParse: any string either parses, to a reference whose familiar form
// parses back to itself and whose path keeps Docker's grammar, or is
// refused with ErrInvalidArgument; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"busybox", "busybox:1.36", "docker.io/library/busybox", "localhost:5000/a/b:t",
		"busybox@" + dgst, "[::1]:5000/x", "Busybox", "foo//bar", "../../etc/passwd",
		"busybox:" + strings.Repeat("a", 200), strings.Repeat("ab", 32), "a\x00b", "a\nb:c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Parse(%q): %v without ErrInvalidArgument", s, err)
			}
			return
		}
		fam := Familiar(r)
		r2, err := Parse(fam)
		if err != nil || Familiar(r2) != fam {
			t.Fatalf("Parse(%q) = %s, which reads back as %v, %v", s, fam, r2, err)
		}
		for _, c := range strings.Split(r.Context().RepositoryStr(), "/") {
			if !pathComponent(c) || c == "." || c == ".." {
				t.Fatalf("Parse(%q) kept path component %q", s, c)
			}
		}
	})
}
