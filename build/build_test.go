package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/layerfs"
	"github.com/wharf-dev/wharf/image/store"
)

func str(s string) *string { return &s }

// build runs a build of dockerfile over files and returns the image.
func testBuild(t *testing.T, b *Builder, st *store.Store, files map[string]string, o Options) (*store.Image, []Event) {
	t.Helper()
	if o.Context == nil {
		o.Context = writeContext(t, files)
	}
	var events []Event
	res, err := b.Build(context.Background(), o, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	img, err := st.Get(context.Background(), res.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	return img, events
}

// imageFS opens the merged files of an image.
func openImage(t *testing.T, st *store.Store, img *store.Image) *layerfs.FS {
	t.Helper()
	dirs, err := st.LayerDirs(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := layerfs.Open(dirs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func envMap(img *store.Image) map[string]string {
	m := map[string]string{}
	for _, kv := range img.Config.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestDockerfileErrorsBeforeAnythingRuns: a bad Dockerfile is reported
// with its file and line, as invalid input, and no step runs (the builder
// has no engine: a RUN would panic).
func TestDockerfileErrorsBeforeAnythingRuns(t *testing.T) {
	b, _ := newTestBuilder(t)
	for _, tc := range []struct{ name, df, want string }{
		{"unknown instruction", "FROM scratch\nRUN true\nFOO bar\n", "Dockerfile:3"},
		{"bad flag", "FROM scratch\nRUN true\nCOPY --nope=1 a b\n", "Dockerfile:3"},
		{"empty", "# nothing\n", "no instructions"},
		{"unknown --from stage", "FROM scratch\nCOPY --from=7 /a /b\n", "Dockerfile:2"},
		{"instruction before FROM", "RUN true\nFROM scratch\n", "Dockerfile:1"},
		{"missing target", "FROM scratch AS a\n", "target stage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Context: writeContext(t, map[string]string{"Dockerfile": tc.df})}
			if tc.name == "missing target" {
				o.Target = "nope"
			}
			_, err := b.Build(context.Background(), o, func(e Event) {
				t.Errorf("an event came before the error: %+v", e)
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error = %v, want one naming %q of class invalid argument", err, tc.want)
			}
		})
	}
}

// TestUnsupportedMountBeforeAnythingRuns: a RUN mount type the builder
// cannot run is refused with its line before the first step, not when
// its RUN is reached.
func TestUnsupportedMountBeforeAnythingRuns(t *testing.T) {
	b, _ := newTestBuilder(t)
	o := Options{Context: writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /x\nRUN --mount=type=ssh true\n"})}
	_, err := b.Build(context.Background(), o, func(e Event) {
		t.Errorf("an event came before the error: %+v", e)
	})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:3") || !errdefs.IsNotImplemented(err) {
		t.Fatalf("error = %v, want one naming Dockerfile:3 of class not implemented", err)
	}
	// The mounts the builder runs pass, whatever their options' order,
	// and a type only a stage's ARG gives is left to the step.
	for _, src := range []string{
		"FROM scratch\nRUN --mount=type=cache,target=/c,id=x --mount=target=/t,type=tmpfs --mount=type=secret,id=s --mount=type=bind,target=/b true\n",
		"FROM scratch\nARG T=cache\nRUN --mount=type=$T,target=/c true\n",
	} {
		if _, err := parseDockerfile("Dockerfile", []byte(src), nil); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// TestArgScopeAcrossStages: ARGs before FROM are seen by FROM lines and,
// inside a stage, only once declared again; a stage's ARG default yields
// to --build-arg; ENV wins over ARG; ARGs do not outlive their stage.
func TestArgScopeAcrossStages(t *testing.T) {
	b, st := newTestBuilder(t)
	files := map[string]string{"Dockerfile": `ARG V=global
ARG ONLYGLOBAL=g
ARG BASE=scratch
FROM ${BASE} AS a
ARG V
ENV FROM_ARG=${V} UNDECLARED=[${ONLYGLOBAL}]
ARG S=stage-default
ENV S_SEEN=${S}
ARG SHADOW=arg
ENV SHADOW=env
ENV SHADOW_SEEN=${SHADOW}
FROM a AS b
ENV IN_B=[${S}]
`}
	img, _ := testBuild(t, b, st, files, Options{Target: "a"})
	env := envMap(img)
	for k, want := range map[string]string{"FROM_ARG": "global", "UNDECLARED": "[]", "S_SEEN": "stage-default", "SHADOW_SEEN": "env"} {
		if env[k] != want {
			t.Errorf("stage a: %s=%q, want %q (env %v)", k, env[k], want, env)
		}
	}
	img, _ = testBuild(t, b, st, files, Options{Target: "a", BuildArgs: map[string]*string{"V": str("cli"), "S": str("s-cli")}})
	if env := envMap(img); env["FROM_ARG"] != "cli" || env["S_SEEN"] != "s-cli" {
		t.Errorf("--build-arg not applied: %v", env)
	}
	img, _ = testBuild(t, b, st, files, Options{})
	if env := envMap(img); env["IN_B"] != "[]" || env["FROM_ARG"] != "global" {
		t.Errorf("stage b: an ARG of stage a leaked, or its ENV was lost: %v", env)
	}
}

// TestConfigInstructions: ENV, LABEL, WORKDIR (relative to the last one,
// created owned by USER), USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, CMD and
// ENTRYPOINT (which drops an inherited CMD), ONBUILD triggers.
func TestConfigInstructions(t *testing.T) {
	b, st := newTestBuilder(t)
	img, _ := testBuild(t, b, st, map[string]string{"Dockerfile": `FROM scratch AS base
CMD ["inherited"]
ONBUILD ENV TRIGGERED=yes
FROM base
ENV A=1 SAME=[${A}]
ENV B=${A}2
LABEL team=x "with space"="y z"
WORKDIR /a
USER 1000:1001
WORKDIR b
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGINT
SHELL ["/bin/ash", "-c"]
ENTRYPOINT echo hi
`}, Options{Labels: map[string]string{"cli": "label"}})
	c := img.Config.Config
	env := envMap(img)
	// Words of one ENV see the environment before it, as in Docker.
	if env["A"] != "1" || env["B"] != "12" || env["SAME"] != "[]" || env["TRIGGERED"] != "yes" {
		t.Errorf("env %v", c.Env)
	}
	if c.Labels["team"] != "x" || c.Labels["with space"] != "y z" || c.Labels["cli"] != "label" {
		t.Errorf("labels %v", c.Labels)
	}
	if c.WorkingDir != "/a/b" || c.User != "1000:1001" || c.StopSignal != "SIGINT" {
		t.Errorf("workdir %q user %q stopsignal %q", c.WorkingDir, c.User, c.StopSignal)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes %v", c.Volumes)
	}
	if strings.Join(c.Entrypoint, "|") != "/bin/ash|-c|echo hi" || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q: the base's CMD must not outlive a new ENTRYPOINT", c.Entrypoint, c.Cmd)
	}
	if len(c.OnBuild) != 0 {
		t.Errorf("ONBUILD triggers kept after they ran: %v", c.OnBuild)
	}
	f := openImage(t, st, img)
	a, err := f.Lookup("/a", false)
	if err != nil || !a.IsDir() || a.Stat.Uid != 0 {
		t.Fatalf("/a: %v (uid %d)", err, a.Stat.Uid)
	}
	a.Close()
	ab, err := f.Lookup("/a/b", false)
	if err != nil || !ab.IsDir() || ab.Stat.Uid != 1000 || ab.Stat.Gid != 1001 {
		t.Fatalf("/a/b must be created owned by the USER: %v %+v", err, ab)
	}
	ab.Close()
	var created []string
	for _, h := range img.Config.History {
		created = append(created, h.CreatedBy)
	}
	if got := strings.Join(created, "\n"); !strings.Contains(got, "ENV B=12") || !strings.Contains(got, "WORKDIR /a/b") {
		t.Errorf("history:\n%s", got)
	}
}

// TestCopySemantics covers the sources and destinations of COPY and ADD:
// directories copy their content, globs, .dockerignore (with an
// exception), --chown and --chmod, a symlink pointing outside the context
// copied as a link, destinations through the image's symlinks, ADD of a
// local archive unpacked and of a URL refused.
func TestCopySemantics(t *testing.T) {
	b, st := newTestBuilder(t)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	_ = tw.WriteHeader(&tar.Header{Name: "in/arch.txt", Mode: 0o600, Size: 4, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("arch"))
	_ = tw.WriteHeader(&tar.Header{Name: "../../escape.txt", Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("e"))
	_ = tw.Close()
	files := map[string]string{
		"Dockerfile": `FROM scratch AS base
COPY lib/ /usr/lib/
FROM base
COPY src/ /app/
COPY *.md notes/ /docs/
COPY --chown=7:8 --chmod=600 one.txt /owned
COPY one.txt /lib/viasymlink.txt
ADD arch.tar /unpacked/
`,
		".dockerignore":  "src/secret*\n*.md\n!keep.md\n",
		"lib/x":          "x",
		"src/a.txt":      "a",
		"src/sub/b.txt":  "b",
		"src/secret.key": "s",
		"keep.md":        "k",
		"drop.md":        "d",
		"notes/n.txt":    "n",
		"one.txt":        "1",
		"arch.tar":       tb.String(),
	}
	ctx := writeContext(t, files)
	if err := os.Symlink("/etc/passwd", filepath.Join(ctx.dir, "src", "leak")); err != nil {
		t.Fatal(err)
	}
	// The base has /lib -> usr/lib, as merged-/usr images do.
	files2 := map[string]string{}
	_ = files2
	if err := os.Symlink("usr/lib", filepath.Join(ctx.dir, "lib-link")); err != nil {
		t.Fatal(err)
	}
	df := strings.Replace(files["Dockerfile"], "COPY lib/ /usr/lib/\n", "COPY lib/ /usr/lib/\nCOPY lib-link /lib\n", 1)
	if err := os.WriteFile(filepath.Join(ctx.dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	img, _ := testBuild(t, b, st, nil, Options{Context: ctx})
	f := openImage(t, st, img)
	exists := func(p string) bool {
		n, err := f.Lookup(p, false)
		if err == nil {
			n.Close()
		}
		return err == nil
	}
	for _, p := range []string{"/app/a.txt", "/app/sub/b.txt", "/docs/keep.md", "/docs/n.txt", "/owned", "/usr/lib/viasymlink.txt", "/unpacked/in/arch.txt", "/unpacked/escape.txt"} {
		if !exists(p) {
			t.Errorf("%s missing", p)
		}
	}
	for _, p := range []string{"/app/secret.key", "/docs/drop.md", "/app/src", "/escape.txt", "/lib/viasymlink.txt.real"} {
		if exists(p) {
			t.Errorf("%s should not be in the image", p)
		}
	}
	leak, err := f.Lookup("/app/leak", false)
	if err != nil || !leak.IsSymlink() || leak.Link != "/etc/passwd" {
		t.Errorf("a symlink to outside the context must be copied as that link: %v %+v", err, leak)
	} else {
		leak.Close()
	}
	owned, err := f.Lookup("/owned", false)
	if err != nil || owned.Stat.Uid != 7 || owned.Stat.Gid != 8 || owned.Stat.Mode&0o7777 != 0o600 {
		t.Errorf("--chown/--chmod: %+v %v", owned, err)
	} else {
		owned.Close()
	}
	l, err := f.Lookup("/lib", false)
	if err != nil || !l.IsSymlink() {
		t.Errorf("/lib must stay a symlink when COPY writes through it: %+v %v", l, err)
	} else {
		l.Close()
	}

	for _, tc := range []struct{ df, want string }{
		{"FROM scratch\nADD http://example.com/x /x\n", "offline"},
		{"FROM scratch\nCOPY one.txt keep.md /notadir\n", "must be a directory"},
		{"FROM scratch\nCOPY nothere /x\n", "not found"},
		{"FROM scratch\nCOPY src/secret.key /x\n", "not found"},
	} {
		c := writeContext(t, map[string]string{"Dockerfile": tc.df, "one.txt": "1", "keep.md": "k", ".dockerignore": "src/secret*\n", "src/secret.key": "s"})
		if _, err := b.Build(context.Background(), Options{Context: c}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.df, err, tc.want)
		}
	}
}

// TestOnlyNeededStagesBuild: a stage the target does not need is never
// built (its base image does not exist: building it would fail).
func TestOnlyNeededStagesBuild(t *testing.T) {
	b, st := newTestBuilder(t)
	df := "FROM no-such-image-anywhere:1 AS broken\nFROM scratch AS ok\nENV OK=1\nFROM scratch\nCOPY --from=ok / /\n"
	var events []Event
	c := writeContext(t, map[string]string{"Dockerfile": df})
	if _, err := b.Build(context.Background(), Options{Context: c}, func(e Event) { events = append(events, e) }); err != nil {
		t.Fatalf("build: %v", err)
	}
	for _, e := range events {
		if strings.Contains(e.Name, "no-such-image") {
			t.Errorf("the unneeded stage ran: %+v", e)
		}
	}
	if _, err := b.Build(context.Background(), Options{Context: c, Target: "broken"}, nil); err == nil {
		t.Error("building the broken stage succeeded")
	}
	_ = st
}

// TestCacheAndReproducibility: the same inputs give the same image ID,
// from the cache and, with SOURCE_DATE_EPOCH, from scratch; a changed
// file misses the cache of its COPY and of every step after it only.
func TestCacheAndReproducibility(t *testing.T) {
	b, st := newTestBuilder(t)
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY a /a\nCOPY b /b\nENV X=1\n", "a": "a", "b": "b"}
	ctx := writeContext(t, files)
	cachedSteps := func(events []Event) []string {
		var out []string
		for _, e := range events {
			if e.Status == StatusCached {
				out = append(out, e.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	img1, _ := testBuild(t, b, st, nil, Options{Context: ctx})
	img2, ev := testBuild(t, b, st, nil, Options{Context: ctx})
	if img1.ID != img2.ID {
		t.Errorf("rebuild gave %s, then %s", img1.ID, img2.ID)
	}
	if got := cachedSteps(ev); len(got) != 2 {
		t.Errorf("cached steps on a rebuild: %v, want both COPYs", got)
	}
	if err := os.WriteFile(filepath.Join(ctx.dir, "b"), []byte("b2"), 0o644); err != nil {
		t.Fatal(err)
	}
	img3, ev := testBuild(t, b, st, nil, Options{Context: ctx})
	if got := cachedSteps(ev); len(got) != 1 || !strings.Contains(got[0], "COPY a") {
		t.Errorf("after changing b, cached steps %v, want COPY a only", got)
	}
	if img3.ID == img1.ID {
		t.Error("a changed file gave the same image")
	}
	epoch := map[string]*string{"SOURCE_DATE_EPOCH": str("1700000000")}
	e1, _ := testBuild(t, b, st, nil, Options{Context: ctx, NoCache: true, BuildArgs: epoch})
	e2, _ := testBuild(t, b, st, nil, Options{Context: ctx, NoCache: true, BuildArgs: epoch})
	if e1.ID != e2.ID {
		t.Errorf("two builds without cache and with SOURCE_DATE_EPOCH gave %s and %s", e1.ID, e2.ID)
	}
	if got := e1.Created.Unix(); got != 1700000000 {
		t.Errorf("created %v, want SOURCE_DATE_EPOCH", e1.Created)
	}
	if _, err := b.Build(context.Background(), Options{Context: ctx, Tags: []string{"bad tag"}}, nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("a bad tag: %v", err)
	}
}

// TestParallelStagesExpandIndependently: stages building at the same time
// expand their words each with their own state; one shell lexer shared by
// concurrent stages mixed their words up.
func TestParallelStagesExpandIndependently(t *testing.T) {
	b, st := newTestBuilder(t)
	var df strings.Builder
	const stages, steps = 6, 60
	dest := func(s int) string {
		return fmt.Sprintf("d%d-0-of-stage-%d/d%d-%d-of-stage-%d/file", s, s, s, steps-1, s)
	}
	for s := 0; s < stages; s++ {
		fmt.Fprintf(&df, "FROM scratch AS s%d\nARG D%d=d%d\n", s, s, s)
		for i := 0; i < steps; i++ {
			fmt.Fprintf(&df, "ENV E%d=${D%d}-%d-of-stage-%d\n", i, s, i, s)
		}
		fmt.Fprintf(&df, "COPY f /${E0}/${E%d}/file\n", steps-1)
	}
	df.WriteString("FROM scratch\n")
	for s := 0; s < stages; s++ {
		fmt.Fprintf(&df, "COPY --from=s%d /%s /%s\n", s, dest(s), dest(s))
	}
	ctx := writeContext(t, map[string]string{"f": "x", "Dockerfile": df.String()})
	for round := 0; round < 10; round++ {
		var res *Result
		var err error
		res, err = b.Build(context.Background(), Options{Context: ctx, NoCache: true}, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		img, err := st.Get(context.Background(), res.ImageID)
		if err != nil {
			t.Fatal(err)
		}
		fsys := openImage(t, st, img)
		for s := 0; s < stages; s++ {
			if _, err := fsys.Lookup("/"+dest(s), false); err != nil {
				t.Fatalf("round %d: stage %d: %v", round, s, err)
			}
		}
	}
}

// TestCacheFromImage: with its build cache pruned, a build reuses the
// layers of a --cache-from image for the steps whose keys the image
// lists, up to the first step that changed, and gives the same image;
// without --cache-from every step runs again.
func TestCacheFromImage(t *testing.T) {
	b, st := newTestBuilder(t)
	bctx := context.Background()
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a /a\nENV X=1\nCOPY b /b\n", "a": "a", "b": "b"})
	epoch := map[string]*string{"SOURCE_DATE_EPOCH": str("1700000000")}
	cached := func(events []Event) []string {
		var out []string
		for _, e := range events {
			if e.Status == StatusCached {
				out = append(out, e.Name)
			}
		}
		return out
	}
	prune := func() {
		t.Helper()
		if _, _, err := st.PruneBuildCache(bctx, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
	}
	img1, _ := testBuild(t, b, st, nil, Options{Context: ctx, Tags: []string{"src:1"}, BuildArgs: epoch})
	prune()
	if _, ev := testBuild(t, b, st, nil, Options{Context: ctx, BuildArgs: epoch}); len(cached(ev)) != 0 {
		t.Fatalf("steps cached after the prune: %v", cached(ev))
	}
	prune()
	img2, ev := testBuild(t, b, st, nil, Options{Context: ctx, BuildArgs: epoch, CacheFrom: []string{"nonexistent:1", "src:1"}})
	if got := cached(ev); len(got) != 2 {
		t.Errorf("with --cache-from, cached steps %v, want both COPYs", got)
	}
	if img2.ID != img1.ID {
		t.Errorf("with --cache-from the image is %s, the source %s", img2.ID, img1.ID)
	}
	if err := os.WriteFile(filepath.Join(ctx.dir, "b"), []byte("b2"), 0o644); err != nil {
		t.Fatal(err)
	}
	prune()
	img3, ev := testBuild(t, b, st, nil, Options{Context: ctx, BuildArgs: epoch, CacheFrom: []string{"src:1"}})
	if got := cached(ev); len(got) != 1 || !strings.Contains(got[0], "COPY a") {
		t.Errorf("after changing b, cached steps %v, want COPY a only", got)
	}
	if img3.Layers[0].Digest != img1.Layers[0].Digest || img3.Layers[1].Digest == img1.Layers[1].Digest {
		t.Errorf("layers %v, source %v", img3.Layers, img1.Layers)
	}
	if _, ev := testBuild(t, b, st, nil, Options{Context: ctx, BuildArgs: epoch, CacheFrom: []string{"src:1"}, NoCache: true}); len(cached(ev)) != 0 {
		t.Errorf("--no-cache used the --cache-from image: %v", cached(ev))
	}
}
