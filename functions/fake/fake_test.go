package fake

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

func create(t *testing.T, s *Service, name string) {
	t.Helper()
	if _, err := s.Create(context.Background(), functions.CreateInput{
		Config: functions.Config{FunctionName: name, Runtime: "provided", Environment: map[string]string{"A": "1"}},
		Code:   functions.Code{ZipFile: []byte("zip")},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestVersionsAreImmutable(t *testing.T) {
	s := New()
	ctx := context.Background()
	create(t, s, "fn")
	v1, err := s.PublishVersion(ctx, "fn", "")
	if err != nil || v1.Version != "1" {
		t.Fatal(v1, err)
	}
	v1.Environment["A"] = "changed by caller"
	mem := 512
	if _, err := s.UpdateConfig(ctx, "fn", functions.ConfigUpdate{MemorySize: &mem, Environment: map[string]string{"B": "2"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "fn", "1")
	if err != nil || got.MemorySize != 128 || got.Environment["A"] != "1" || got.Environment["B"] != "" {
		t.Fatalf("version 1 = %+v, %v", got, err)
	}
	// Publishing twice without a change returns the same version.
	v2, _ := s.PublishVersion(ctx, "fn", "")
	v2b, _ := s.PublishVersion(ctx, "fn", "")
	if v2.Version != "2" || v2b.Version != "2" {
		t.Fatalf("versions %s %s", v2.Version, v2b.Version)
	}
}

func TestAliasesAndDelete(t *testing.T) {
	s := New()
	ctx := context.Background()
	create(t, s, "fn")
	s.PublishVersion(ctx, "fn", "")
	if _, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "2"}); !errdefs.IsNotFound(err) {
		t.Fatalf("alias to a missing version: %v", err)
	}
	if _, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "7", FunctionVersion: "1"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("numeric alias: %v", err)
	}
	if _, err := s.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Qualifier: "live", Payload: []byte(`1`)})
	if err != nil || out.ExecutedVersion != "1" {
		t.Fatal(out, err)
	}
	if err := s.Delete(ctx, "fn", "1"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting an aliased version: %v", err)
	}
	if err := s.Delete(ctx, "fn", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "fn", ""); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestInvokeLimitsAndThrottle(t *testing.T) {
	s := New()
	ctx := context.Background()
	create(t, s, "fn")
	_, err := s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Payload: bytes.Repeat([]byte("1"), functions.MaxSyncPayload+1)})
	if !errors.Is(err, functions.ErrTooLarge) {
		t.Fatalf("sync over 6 MB: %v", err)
	}
	_, err = s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Type: functions.InvocationEvent, Payload: bytes.Repeat([]byte("1"), functions.MaxAsyncPayload+1)})
	if !errors.Is(err, functions.ErrTooLarge) {
		t.Fatalf("async over 256 KB: %v", err)
	}
	if err := s.PutConcurrency(ctx, "fn", 0); err != nil {
		t.Fatal(err)
	}
	_, err = s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn", Payload: []byte(`1`)})
	if !errors.Is(err, functions.ErrThrottled) || !errdefs.IsUnavailable(err) {
		t.Fatalf("throttle: %v", err)
	}
	if m, _ := s.Metrics(ctx, "fn"); m.Throttles != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestManualActivation(t *testing.T) {
	s := New(WithManualActivation())
	ctx := context.Background()
	create(t, s, "fn")
	_, err := s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn"})
	if !errors.Is(err, functions.ErrNotReady) || !errdefs.IsConflict(err) {
		t.Fatalf("pending invoke: %v", err)
	}
	s.SetState("fn", functions.StateActive, "")
	if _, err := s.Invoke(ctx, functions.InvokeInput{FunctionName: "fn"}); err != nil {
		t.Fatal(err)
	}
}
