package logfile

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriteSplitRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out := &LineSplitter{Stream: "stdout", Out: w}
	errs := &LineSplitter{Stream: "stderr", Out: w}
	_, _ = out.Write([]byte("one\ntw"))
	_, _ = errs.Write([]byte("oops\n"))
	_, _ = out.Write([]byte("o\nthree"))
	_ = out.Flush()
	_ = errs.Flush()
	_ = w.Close()

	read := func(o ReadOptions) []string {
		var got []string
		if err := Read(context.Background(), path, o, func(e Entry) error {
			got = append(got, e.Stream+":"+e.Log)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := read(ReadOptions{Stdout: true, Stderr: true, Tail: -1})
	want := []string{"stdout:one\n", "stderr:oops\n", "stdout:two\n", "stdout:three"}
	if strings.Join(all, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", all, want)
	}
	if got := read(ReadOptions{Stderr: true, Tail: -1}); len(got) != 1 || got[0] != "stderr:oops\n" {
		t.Fatalf("stderr only: %q", got)
	}
	if got := read(ReadOptions{Stdout: true, Stderr: true, Tail: 2}); len(got) != 2 || got[1] != "stdout:three" {
		t.Fatalf("tail 2: %q", got)
	}
	if got := read(ReadOptions{Stdout: true, Stderr: true, Tail: 0}); len(got) != 0 {
		t.Fatalf("tail 0: %q", got)
	}
	if got := read(ReadOptions{Stdout: true, Stderr: true, Tail: -1, Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Fatalf("since future: %q", got)
	}
	if got := read(ReadOptions{Stdout: true, Tail: -1}); len(got) != 3 {
		t.Fatalf("missing file or filter: %q", got)
	}
}

func TestLongLineIsSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.log")
	w, _ := Open(path, Limits{})
	s := &LineSplitter{Stream: "stdout", Out: w}
	_, _ = s.Write([]byte(strings.Repeat("x", maxLine+10)))
	_ = s.Flush()
	_ = w.Close()
	n := 0
	_ = Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1}, func(Entry) error { n++; return nil })
	if n != 2 {
		t.Fatalf("a line over 16 KiB gives %d entries, want 2", n)
	}
}

func TestFollowStopsWhenWriterIsDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.log")
	w, _ := Open(path, Limits{})
	var running atomic.Bool
	running.Store(true)
	got := make(chan string, 10)
	done := make(chan error)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true, Running: running.Load}, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	_ = w.Write("stdout", []byte("a\n"), time.Now())
	if v := <-got; v != "a\n" {
		t.Fatalf("got %q", v)
	}
	_ = w.Write("stdout", []byte("b\n"), time.Now())
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop after the writer finished")
	}
	if v := <-got; v != "b\n" {
		t.Fatalf("last line lost: %q", v)
	}
	_ = w.Close()
}

func TestMissingFileIsEmpty(t *testing.T) {
	if err := Read(context.Background(), "/nonexistent/x.log", ReadOptions{Stdout: true, Tail: -1}, func(Entry) error {
		t.Fatal("entry from nothing")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A splitter that stops mid-line (a shim going dormant) hands its partial
// line to the next one, which logs the line whole.
func TestHeldLineCarriesOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.log")
	w, _ := Open(path, Limits{})
	first := &LineSplitter{Stream: "stdout", Out: w}
	_, _ = first.Write([]byte("done\npart"))
	held := first.Held()
	if string(held) != "part" {
		t.Fatalf("held %q, want %q", held, "part")
	}
	next := &LineSplitter{Stream: "stdout", Out: w}
	next.Hold(held)
	_, _ = next.Write([]byte("ial\n"))
	_ = next.Flush()
	_ = w.Close()
	var got []string
	_ = Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1}, func(e Entry) error { got = append(got, e.Log); return nil })
	if strings.Join(got, "|") != "done\n|partial\n" {
		t.Fatalf("entries %q", got)
	}
}
