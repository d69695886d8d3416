package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// FuzzParseDockerfile feeds hostile Dockerfiles to the front end. It must
// never panic; an error is invalid input or unsupported, never another
// class; a parsed file's stages only read stages before them (so the
// stage graph has no cycle a parallel build could wait on forever), and
// the stages a target needs include it and are real stages. Seeds live in
// testdata/fuzz/FuzzParseDockerfile.
func FuzzParseDockerfile(f *testing.F) {
	for _, s := range fuzzDockerfiles {
		f.Add([]byte(s), "")
	}
	f.Add([]byte("FROM scratch AS a\nFROM a AS b\nCOPY --from=b / /\n"), "b")
	f.Fuzz(func(t *testing.T, src []byte, target string) {
		df, err := parseDockerfile("Dockerfile", src, map[string]*string{"BASE": str("scratch")})
		if err != nil {
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		if len(df.stages) == 0 {
			t.Fatal("a Dockerfile without stages parsed")
		}
		for i, s := range df.stages {
			if s.index != i || s.from == "" {
				t.Fatalf("stage %d: index %d, from %q", i, s.index, s.from)
			}
			for _, d := range s.deps {
				if d < 0 || d >= i {
					t.Fatalf("stage %d reads stage %d", i, d)
				}
			}
		}
		ti, err := df.target(target)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("target error of no class: %v", err)
			}
			return
		}
		need := df.needed(ti)
		if !need[ti] {
			t.Fatal("the target is not among the stages it needs")
		}
		for i := range need {
			if i < 0 || i >= len(df.stages) {
				t.Fatalf("needs stage %d of %d", i, len(df.stages))
			}
		}
	})
}

// fuzzDockerfiles are the Dockerfiles FuzzBuildContext picks from (no RUN:
// the fuzzed builder has no engine), and seeds of FuzzParseDockerfile.
var fuzzDockerfiles = []string{
	"FROM scratch\nCOPY . /out/\n",
	"FROM scratch\nADD . /out/\nADD arch.tar /unpacked/\n",
	"FROM scratch\nCOPY --chown=1:2 --chmod=600 * /o/\n",
	"FROM scratch AS a\nCOPY l* /a/\nFROM scratch\nCOPY --from=a /a /b\nCOPY d/ /d/\n",
	"ARG BASE\nFROM ${BASE}\nWORKDIR /w\nCOPY --link ./ ./\nENV A=${A:-x}\n",
	"# escape=`\nFROM scratch\nCOPY [\"a b\", \"/c\"]\n",
	"FROM scratch\nCOPY <<EOF /h\nhello\nEOF\n",
	"FROM scratch\nADD http://example.com/x /x\n",
	"FROM scratch\nCOPY ../ /up/\n",
	"FROM scratch\nCOPY --from=1 / /\n",
	"FROM scratch AS a\nFROM a AS a\n",
	"FROM scratch\nRUN --mount=type=ssh true\n",
	"FROM --platform=windows/amd64 scratch\n",
}

// FuzzBuildContext builds hostile tar contexts (as POST /build receives
// them) with COPY and ADD, the tar auto-extraction of ADD included. The
// host holds a secret in a file next to the builder's root, which
// symlinks and hardlinks of the context name by absolute and relative
// paths. It must never panic, never write outside the builder's root,
// and no image it makes may hold the secret. Seeds live in
// testdata/fuzz/FuzzBuildContext.
func FuzzBuildContext(f *testing.F) {
	b, st := newTestBuilder(f)
	base := filepath.Dir(b.root)
	outside := filepath.Join(base, "outside")
	const secret = "host-secret-9f3b1c"
	if err := os.MkdirAll(outside, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzContextSeeds(f, filepath.Join(outside, "secret")) {
		f.Add(s.tar, s.pick)
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		ctx := context.Background()
		c, err := b.ContextFromTar(ctx, bytes.NewReader(data))
		if err == nil {
			o := Options{Context: c, DockerfileContent: []byte(fuzzDockerfiles[int(pick)%5]), BuildArgs: map[string]*string{"BASE": str("scratch")}}
			res, err := b.Build(ctx, o, nil)
			c.Close()
			if err == nil {
				img, err := st.Get(ctx, res.ImageID)
				if err != nil {
					t.Fatal(err)
				}
				dirs, err := st.LayerDirs(ctx, img)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range dirs {
					assertNoSecret(t, d, secret)
				}
			}
		}
		ents, err := os.ReadDir(outside)
		if err != nil || len(ents) != 1 {
			t.Fatalf("the directory next to the builder changed: %v %v", ents, err)
		}
		if got, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(got) != secret {
			t.Fatalf("the host file changed: %q %v", got, err)
		}
		if ents, _ := os.ReadDir(base); len(ents) != 3 { // build, image, outside
			t.Fatalf("entries next to the builder's root: %v", ents)
		}
	})
}

// assertNoSecret fails when a regular file under dir holds secret.
func assertNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(secret)) {
			t.Fatalf("an image holds the host's secret in %s", p)
		}
		return nil
	})
}

type contextSeed struct {
	tar  []byte
	pick uint8
}

// fuzzContextSeeds are hostile contexts: links out of the context by
// absolute and relative paths, names climbing out, a tar (for ADD's
// extraction) whose entries climb out or go through a symlink.
func fuzzContextSeeds(t testing.TB, secretPath string) []contextSeed {
	inner := tarOf(t,
		&tar.Header{Name: "../../escape.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(secretPath)},
		&tar.Header{Name: "l/secret", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: secretPath},
	)
	return []contextSeed{
		{tarOf(t, &tar.Header{Name: "labs", Typeflag: tar.TypeSymlink, Linkname: secretPath}), 0},
		{tarOf(t, &tar.Header{Name: "lrel", Typeflag: tar.TypeSymlink, Linkname: "../../../outside/secret"}), 3},
		{tarOf(t, &tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(secretPath)}), 3},
		{tarOf(t, &tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: secretPath}), 0},
		{tarOf(t, &tar.Header{Name: "../outside/new", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}), 0},
		{tarOf(t, &tar.Header{Name: "/abs", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}), 2},
		{tarOf(t, &tar.Header{Name: "arch.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(inner))}, inner), 1},
		{tarOf(t, &tar.Header{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644, Devmajor: 1, Devminor: 3},
			&tar.Header{Name: "d/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644}), 4},
		{[]byte("not a tar"), 0},
	}
}

// tarOf writes headers into a tar; a header's body is the []byte after
// it when there is one, else Size bytes of "x".
func tarOf(t testing.TB, items ...any) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, it := range items {
		h, ok := it.(*tar.Header)
		if !ok {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if i+1 < len(items) {
			if body, ok := items[i+1].([]byte); ok {
				tw.Write(body)
				continue
			}
		}
		tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzSyncContext feeds two hostile syncs (a JSON manifest and the tar
// the client then sends, which need not match it) to SyncContext. It must
// never panic or write outside the synced directory; after a sync that
// succeeds, every regular file of the manifest is a regular file of its
// size in the directory, and no entry of it is a symlink unless the
// manifest says so. Seeds live in testdata/fuzz/FuzzSyncContext.
func FuzzSyncContext(f *testing.F) {
	for _, s := range fuzzSyncSeeds(f) {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, m1, t1, m2, t2 []byte) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := New(filepath.Join(base, "build"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range [][2][]byte{{m1, t1}, {m2, t2}} {
			var entries []FileMeta
			if json.Unmarshal(step[0], &entries) != nil {
				continue
			}
			c, err := b.SyncContext(context.Background(), "k", entries, func([]int) (io.Reader, error) {
				return bytes.NewReader(step[1]), nil
			})
			if err != nil {
				continue
			}
			for _, e := range entries {
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(c.dir, e.Path), &st); err != nil {
					t.Fatalf("%s: %v", e.Path, err)
				}
				if st.Mode&unix.S_IFMT != e.typ() {
					t.Fatalf("%s: type %o, the manifest says %o", e.Path, st.Mode&unix.S_IFMT, e.typ())
				}
				if e.typ() == unix.S_IFREG && st.Size != e.Size {
					t.Fatalf("%s: size %d, the manifest says %d", e.Path, st.Size, e.Size)
				}
			}
			c.Close()
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("wrote outside the builder: %v", ents)
		}
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("entries next to the builder: %v", ents)
		}
	})
}

// fuzzSyncSeeds are hostile pairs of syncs: paths climbing out or
// absolute, files below a symlink, a directory turned into a symlink to
// "/" between two syncs, a tar that does not match its manifest.
func fuzzSyncSeeds(f testing.TB) [][4][]byte {
	m := func(es ...FileMeta) []byte { b, _ := json.Marshal(es); return b }
	ln := func(p, target string) FileMeta { return FileMeta{Path: p, Mode: unix.S_IFLNK | 0o777, Link: target} }
	file := func(name string, size int64) []byte {
		return tarOf(f, &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	}
	return [][4][]byte{
		{m(dirm("d"), reg("d/f", "x", 1)), file("d/f", 1), m(ln("d", "/"), reg("f", "x", 1)), file("f", 1)},
		{m(ln("l", "../../.."), reg("l/x", "x", 1)), file("l/x", 1), []byte("[]"), {}},
		{m(reg("../x", "x", 1)), file("../x", 1), m(reg("/x", "x", 1)), file("/x", 1)},
		{m(reg("a", "x", 1)), file("b", 1), m(reg("a", "xx", 2)), file("a", 5)},
		{m(ln("l", "/etc")), {}, m(ln("l", "/etc"), reg("x", "x", 1)), tarOf(f,
			&tar.Header{Name: "l/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
			&tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "l/passwd"})},
		{m(dirm("d"), dirm("d/e"), reg("d/e/f", "x", 1)), file("d/e/f", 1), m(reg("d", "x", 1)), file("d", 1)},
	}
}
