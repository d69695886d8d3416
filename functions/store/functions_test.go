package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func TestCreateStatesAndDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := open(t, t.TempDir(), WithClock(func() time.Time { return now }))
	c := mustCreate(t, s, "hello", nil)
	if c.State != functions.StateActive || c.Version != functions.LatestVersion || c.FunctionArn != functions.FunctionArn("hello") ||
		c.Timeout != functions.DefaultTimeoutSec || c.MemorySize != functions.DefaultMemoryMB || c.EphemeralStorage != functions.MinEphemeralMB ||
		c.PackageType != functions.PackageZip || c.CodeSha256 == "" || c.CodeSize == 0 || !c.LastModified.Equal(now) || c.RevisionID == "" ||
		c.LastUpdateStatus != functions.UpdateSuccessful {
		t.Fatalf("created %+v", c)
	}
	noboot := testutil.ZipOf(t, map[string][]byte{"main": []byte("x")}, nil)
	c, err := create(t, s, functions.Config{FunctionName: "noboot", Runtime: "provided"}, noboot, true)
	if err != nil || c.State != functions.StateFailed || c.StateReasonCode != "InvalidEntrypoint" || c.Version != functions.LatestVersion {
		t.Fatalf("a package without bootstrap: %+v, %v", c, err)
	}
	if _, err := s.PublishVersion(context.Background(), "noboot", ""); !errdefs.IsConflict(err) {
		t.Fatalf("publishing a Failed function: %v", err)
	}
	if _, err := create(t, s, functions.Config{FunctionName: "hello", Runtime: "provided"}, bootZip(t, ""), false); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate: %v", err)
	}
	big := make([]byte, functions.MaxZipSize+1)
	var code functions.Config
	if err := s.PutCode(&code, big); !errors.Is(err, functions.ErrTooLarge) || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a package over 50 MB: %v", err)
	}
}

func TestValidation(t *testing.T) {
	s := open(t, t.TempDir())
	for _, bad := range []functions.Config{
		{FunctionName: "x", Runtime: "provided", MemorySize: 64},
		{FunctionName: "x", Runtime: "provided", Timeout: 901},
		{FunctionName: "x", Runtime: "provided", EphemeralStorage: 100},
		{FunctionName: "x", Runtime: "provided", Architectures: []string{"arm64"}},
		{FunctionName: "x", Runtime: "nodejs20.x"},
		{FunctionName: "bad name", Runtime: "provided"},
		{FunctionName: strings.Repeat("x", 65), Runtime: "provided"},
		{FunctionName: "x", Runtime: "provided", Environment: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "y"}},
		{FunctionName: "x", Runtime: "provided", Environment: map[string]string{"LAMBDA_RUNTIME_DIR": "y"}},
		{FunctionName: "x", Runtime: "provided", ImageConfig: &functions.ImageConfig{Command: []string{"x"}}},
		{FunctionName: "x", PackageType: functions.PackageImage, Handler: "h"},
		{FunctionName: "x", PackageType: functions.PackageImage, ImageConfig: &functions.ImageConfig{WorkingDirectory: "rel"}},
		{FunctionName: "x", PackageType: "Oci"},
	} {
		if _, err := create(t, s, bad, bootZip(t, ""), false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %+v: %v", bad, err)
		}
	}
	if fns, _ := s.List(context.Background()); len(fns) != 0 {
		t.Fatalf("refused creates left %d functions", len(fns))
	}
	mustCreate(t, s, "fn", nil)
	ctx := context.Background()
	small := 64
	if _, err := s.UpdateConfig(ctx, "fn", functions.ConfigUpdate{MemorySize: &small}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("update to 64 MB: %v", err)
	}
	if _, err := s.UpdateConfig(ctx, "fn", functions.ConfigUpdate{ImageConfig: &functions.ImageConfig{Command: []string{"x"}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ImageConfig for a zip function: %v", err)
	}
	if c := mustGet(t, s, "fn"); c.MemorySize != functions.DefaultMemoryMB {
		t.Fatalf("a refused update changed the function: %+v", c)
	}
	if _, err := s.UpdateConfig(ctx, "missing", functions.ConfigUpdate{}); !errdefs.IsNotFound(err) {
		t.Fatalf("update of a missing function: %v", err)
	}
}

// Versions are snapshots: later changes of $LATEST, and callers changing
// what they were given, leave them as they were published.
func TestVersionsAreImmutable(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, s, "fn", map[string]string{"A": "1"})
	v1, err := s.PublishVersion(ctx, "fn", "first")
	if err != nil || v1.Version != "1" || v1.FunctionArn != functions.FunctionArn("fn")+":1" || v1.Description != "first" {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	v1.Environment["A"] = "changed by a caller"
	if again, _ := s.PublishVersion(ctx, "fn", ""); again.Version != "1" {
		t.Fatalf("an unchanged publish made version %s", again.Version)
	}
	mem := 512
	if _, err := s.UpdateConfig(ctx, "fn", functions.ConfigUpdate{MemorySize: &mem, Environment: map[string]string{"B": "2"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "fn", "1")
	if err != nil || got.MemorySize != 128 || got.Environment["A"] != "1" || got.Environment["B"] != "" {
		t.Fatalf("version 1 = %+v, %v", got, err)
	}
	var code functions.Config
	if err := s.PutCode(&code, bootZip(t, "v2")); err != nil {
		t.Fatal(err)
	}
	v2, err := s.SetCode(ctx, "fn", code, true)
	if err != nil || v2.Version != "2" || v2.CodeSha256 == got.CodeSha256 || v2.MemorySize != 512 {
		t.Fatalf("new code, published: %+v, %v", v2, err)
	}
	if got, _ := s.Get(ctx, "fn", "1"); got.CodeSha256 != v1.CodeSha256 {
		t.Fatal("version 1's code changed")
	}
	vs, err := s.ListVersions(ctx, "fn")
	if err != nil || len(vs) != 3 || vs[0].Version != functions.LatestVersion || vs[1].Version != "1" || vs[2].Version != "2" {
		t.Fatalf("versions %v %v", vs, err)
	}
}

func TestAliases(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, s, "fn", nil)
	if _, err := s.PublishVersion(ctx, "fn", ""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []functions.Alias{{Name: "7", FunctionVersion: "1"}, {Name: "$LATEST", FunctionVersion: "1"}, {Name: "a b", FunctionVersion: "1"}, {Name: "x"}} {
		if _, err := s.CreateAlias(ctx, "fn", bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("alias %+v: %v", bad, err)
		}
	}
	if _, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "2"}); !errdefs.IsNotFound(err) {
		t.Fatalf("alias to a missing version: %v", err)
	}
	a, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1", Description: "d"})
	if err != nil || a.AliasArn != functions.FunctionArn("fn")+":live" || a.RevisionID == "" {
		t.Fatalf("create alias: %+v %v", a, err)
	}
	if _, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1"}); !errdefs.IsConflict(err) {
		t.Fatalf("a second alias of the name: %v", err)
	}
	if c, v, err := s.Resolve("fn", "live"); err != nil || v != "1" || c.Version != "1" {
		t.Fatalf("resolve live: %s %v", v, err)
	}
	a, err = s.UpdateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: functions.LatestVersion})
	if err != nil || a.FunctionVersion != functions.LatestVersion || a.Description != "d" {
		t.Fatalf("update alias: %+v %v", a, err)
	}
	if _, err := s.UpdateAlias(ctx, "fn", functions.Alias{Name: "nope", FunctionVersion: "1"}); !errdefs.IsNotFound(err) {
		t.Fatalf("update of a missing alias: %v", err)
	}
	if _, err := s.UpdateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "fn", "1"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting an aliased version: %v", err)
	}
	if err := s.Delete(ctx, "fn", functions.LatestVersion); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("deleting $LATEST: %v", err)
	}
	s.CreateAlias(ctx, "fn", functions.Alias{Name: "beta", FunctionVersion: "1"})
	if as, _ := s.ListAliases(ctx, "fn"); len(as) != 2 || as[0].Name != "beta" || as[1].Name != "live" {
		t.Fatalf("aliases %+v", as)
	}
	for _, n := range []string{"beta", "live"} {
		if err := s.DeleteAlias(ctx, "fn", n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetAlias(ctx, "fn", "live"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted alias: %v", err)
	}
	if err := s.Delete(ctx, "fn", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "fn", "1"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted version: %v", err)
	}
	// Everything survives a reopening.
	s.CreateAlias(ctx, "fn", functions.Alias{Name: "keep", FunctionVersion: functions.LatestVersion})
	s2 := open(t, s.root)
	if a, err := s2.GetAlias(ctx, "fn", "keep"); err != nil || a.FunctionVersion != functions.LatestVersion {
		t.Fatalf("after reopening: %+v %v", a, err)
	}
}

// Reserved concurrency is the function's: every qualifier reports it,
// whenever the version was published.
func TestConcurrencyIsTheFunctions(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, s, "fn", nil)
	if _, err := s.PublishVersion(ctx, "fn", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConcurrency(ctx, "fn", 3); err != nil {
		t.Fatal(err)
	}
	s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1"})
	for _, q := range []string{"", "1", "live"} {
		if c, err := s.Get(ctx, "fn", q); err != nil || c.ReservedConcurrency == nil || *c.ReservedConcurrency != 3 {
			t.Fatalf("Get(fn, %q) = %+v, %v", q, c, err)
		}
	}
	if err := s.PutConcurrency(ctx, "fn", -1); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("negative concurrency: %v", err)
	}
	if err := s.DeleteConcurrency(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(ctx, "fn", "1"); c.ReservedConcurrency != nil {
		t.Fatalf("after delete: %d", *c.ReservedConcurrency)
	}
	if err := s.PutConcurrency(ctx, "missing", 1); !errdefs.IsNotFound(err) {
		t.Fatalf("missing function: %v", err)
	}
}

// Every change that retires sandboxes is told, with the store locked.
func TestChanges(t *testing.T) {
	var mu sync.Mutex
	var got []Change
	var s *Store
	s = open(t, t.TempDir(), WithChanges(func(c Change) {
		if s.mu.TryLock() {
			t.Error("a change was told without the store locked")
			s.mu.Unlock()
		}
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	}))
	ctx := context.Background()
	mustCreate(t, s, "fn", nil)
	desc := "d"
	s.UpdateConfig(ctx, "fn", functions.ConfigUpdate{Description: &desc})
	s.PublishVersion(ctx, "fn", "")
	var code functions.Config
	s.PutCode(&code, bootZip(t, "2"))
	s.SetCode(ctx, "fn", code, false)
	s.Delete(ctx, "fn", "1")
	s.Delete(ctx, "fn", "")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"fn $LATEST d", "fn $LATEST d", "fn 1 -", "fn  -"}
	if len(got) != len(want) {
		t.Fatalf("changes %+v", got)
	}
	for i, c := range got {
		s := c.Function + " " + c.Version + " -"
		if c.Latest != nil {
			s = c.Function + " " + c.Version + " " + c.Latest.Description
		}
		if s != want[i] {
			t.Errorf("change %d = %q, want %q", i, s, want[i])
		}
	}
}

func TestIfCurrent(t *testing.T) {
	s := open(t, t.TempDir())
	c := mustCreate(t, s, "fn", nil)
	ran := false
	if !s.IfCurrent("fn", c.RevisionID, func() { ran = true }) || !ran {
		t.Fatal("current revision not run")
	}
	desc := "d"
	s.UpdateConfig(context.Background(), "fn", functions.ConfigUpdate{Description: &desc})
	if s.IfCurrent("fn", c.RevisionID, func() { t.Error("ran on an old revision") }) {
		t.Fatal("an old revision is current")
	}
	if s.IfCurrent("missing", c.RevisionID, func() {}) {
		t.Fatal("a missing function is current")
	}
}

// A record a stopped daemon left Pending is finished when the store opens
// again; an image still to be pulled waits for FinishPull.
func TestPendingAtOpen(t *testing.T) {
	root := t.TempDir()
	s := open(t, root)
	ctx := context.Background()
	mustCreate(t, s, "zip", nil)
	img := functions.Config{FunctionName: "img", PackageType: functions.PackageImage, ImageURI: "local/fn:1"}
	if err := Validate(&img); err != nil {
		t.Fatal(err)
	}
	c, err := s.Create(ctx, img, true)
	if err != nil || c.State != functions.StatePending || !strings.Contains(c.StateReason, "local/fn:1") {
		t.Fatalf("image to pull: %+v %v", c, err)
	}
	// What a crash right after the record was written leaves.
	p := filepath.Join(root, "fn", "zip.json")
	data, _ := os.ReadFile(p)
	var r record
	json.Unmarshal(data, &r)
	r.Latest.State = functions.StatePending
	data, _ = json.Marshal(r)
	os.WriteFile(p, data, 0o600)

	s = open(t, root)
	if c := mustGet(t, s, "zip"); c.State != functions.StateActive {
		t.Fatalf("pending zip after reopening: %+v", c)
	}
	if p := s.AwaitingImage(); len(p) != 1 || p[0] != (Pull{Function: "img", ImageURI: "local/fn:1"}) {
		t.Fatalf("awaiting: %+v", p)
	}
	if s.FinishPull(ctx, "img", "local/fn:2", &functions.Config{ImageID: "sha256:x"}, "", false) {
		t.Fatal("a pull of another reference finished the function")
	}
	pin := &functions.Config{ImageID: "sha256:1", ResolvedImageURI: "local/fn@sha256:2", CodeSha256: "2"}
	if !s.FinishPull(ctx, "img", "local/fn:1", pin, "", true) {
		t.Fatal("the pull did not finish the function")
	}
	c = mustGet(t, s, "img")
	if c.State != functions.StateActive || c.ImageID != "sha256:1" || c.ResolvedImageURI != "local/fn@sha256:2" || c.CodeSha256 != "2" {
		t.Fatalf("after the pull: %+v", c)
	}
	if vs, _ := s.ListVersions(ctx, "img"); len(vs) != 2 {
		t.Fatalf("publish asked at create: %d versions", len(vs))
	}
	if !s.ImageInUse("sha256:1") || s.ImageInUse("sha256:other") {
		t.Fatal("ImageInUse")
	}
	if len(s.AwaitingImage()) != 0 || s.FinishPull(ctx, "img", "local/fn:1", nil, "late", false) {
		t.Fatal("a finished pull finished again")
	}

	// A pull that fails leaves the function Failed with its reason.
	img.FunctionName = "gone"
	s.Create(ctx, img, false)
	s.FinishPull(ctx, "gone", "local/fn:1", nil, "Source image local/fn:1 does not exist.", false)
	if c := mustGet(t, s, "gone"); c.State != functions.StateFailed || c.StateReasonCode != "InvalidImage" || !strings.Contains(c.StateReason, "does not exist") {
		t.Fatalf("failed pull: %+v", c)
	}
}

func TestUnzipRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	for name, files := range map[string]map[string][]byte{
		"traversal": {"../../escape": []byte("x")},
		"absolute":  {"/etc/escape": []byte("x")},
	} {
		data := testutil.ZipOf(t, files, nil)
		target := dir + "/" + name
		if err := unzip(data, target, nil); err != nil {
			continue // refused outright is fine
		}
		// Accepted: the entry must have landed inside the target.
		if _, err := readAnyFile(target); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Fatal("an entry escaped")
	}
	if err := unzip([]byte("not a zip"), dir+"/garbage", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("garbage: %v", err)
	}
}
