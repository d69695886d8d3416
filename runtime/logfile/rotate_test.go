package logfile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logFiles lists the files of the log at path that exist: the current one
// and the rotated ones.
func logFiles(path string) []string {
	var out []string
	if _, err := os.Lstat(path); err == nil {
		out = append(out, path)
	}
	for n := 1; n <= maxRotated; n++ {
		if _, err := os.Lstat(rotated(path, n)); err != nil {
			break
		}
		out = append(out, rotated(path, n))
	}
	return out
}

// diskSize is the size of every file of the log at path.
func diskSize(t *testing.T, path string) (int64, []string) {
	t.Helper()
	var total int64
	names := logFiles(path)
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	return total, names
}

// readLogs returns the Log fields of the selected entries.
func readLogs(t *testing.T, path string, o ReadOptions) []string {
	t.Helper()
	var got []string
	if err := Read(context.Background(), path, o, func(e Entry) error {
		got = append(got, strings.TrimSuffix(e.Log, "\n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkRun fails unless lines are "line N" for consecutive N ending at
// last.
func checkRun(t *testing.T, lines []string, last int) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no lines")
	}
	first, err := strconv.Atoi(strings.TrimPrefix(lines[0], "line "))
	if err != nil {
		t.Fatalf("first line %q", lines[0])
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %d", first+i); l != want {
			t.Fatalf("line %d is %q, want %q (order across files broken)", i, l, want)
		}
	}
	if first+len(lines)-1 != last {
		t.Fatalf("last line %q, want line %d", lines[len(lines)-1], last)
	}
}

// A log written far past max-size × max-file stays within that bound
// after every write, keeps Docker's file names, and reads back in order
// across its files, the tail included.
func TestRotationKeepsTheBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	lim := Limits{MaxSize: 1000, MaxFiles: 3}
	w, err := Open(path, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 500
	for i := 0; i < n; i++ {
		if err := w.Write("stdout", []byte(fmt.Sprintf("line %d\n", i)), time.Now()); err != nil {
			t.Fatal(err)
		}
		if total, names := diskSize(t, path); total > lim.MaxSize*int64(lim.MaxFiles) || len(names) > lim.MaxFiles {
			t.Fatalf("after %d writes the log holds %d bytes in %q, over %d × %d", i+1, total, names, lim.MaxSize, lim.MaxFiles)
		}
	}
	if _, names := diskSize(t, path); strings.Join(names, " ") != path+" "+path+".1 "+path+".2" {
		t.Fatalf("files %q", names)
	}
	all := readLogs(t, path, ReadOptions{Stdout: true, Stderr: true, Tail: -1})
	checkRun(t, all, n-1)
	if len(all) >= n {
		t.Fatalf("nothing was dropped: %d lines", len(all))
	}
	// A tail longer than the current file reaches into the rotated ones.
	tail := readLogs(t, path, ReadOptions{Stdout: true, Tail: 30})
	if len(tail) != 30 {
		t.Fatalf("tail 30 gave %d lines", len(tail))
	}
	checkRun(t, tail, n-1)
	if got := readLogs(t, path, ReadOptions{Stdout: true, Tail: 1000}); len(got) != len(all) {
		t.Fatalf("a tail past the log's start gave %d lines, want %d", len(got), len(all))
	}
	if got := readLogs(t, path, ReadOptions{Stderr: true, Tail: 3}); len(got) != 0 {
		t.Fatalf("stderr tail of a stdout-only log: %q", got)
	}
}

// The tail counts only the entries the filters keep, across files.
func TestTailCountsSelectedEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{MaxSize: 400, MaxFiles: 10})
	for i := 0; i < 60; i++ {
		stream := "stdout"
		if i%10 == 0 {
			stream = "stderr"
		}
		_ = w.Write(stream, []byte(fmt.Sprintf("line %d\n", i)), time.Now())
	}
	_ = w.Close()
	if len(logFiles(path)) < 3 {
		t.Fatalf("files %q: the test needs several", logFiles(path))
	}
	got := readLogs(t, path, ReadOptions{Stderr: true, Tail: 3})
	if strings.Join(got, "|") != "line 30|line 40|line 50" {
		t.Fatalf("stderr tail 3: %q", got)
	}
}

// A writer opened again on the same log (a shim resumed from dormancy, or
// after a daemon restart) carries on from the state on disk: the bound
// holds and the order across the reopen is kept.
func TestRotationStateSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	lim := Limits{MaxSize: 500, MaxFiles: 2}
	i := 0
	for round := 0; round < 7; round++ {
		w, err := Open(path, lim)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 13; k++ {
			_ = w.Write("stdout", []byte(fmt.Sprintf("line %d\n", i)), time.Now())
			i++
			if total, _ := diskSize(t, path); total > 1000 {
				t.Fatalf("round %d: %d bytes on disk, over 2 × 500", round, total)
			}
		}
		_ = w.Close()
	}
	checkRun(t, readLogs(t, path, ReadOptions{Stdout: true, Tail: -1}), i-1)
}

// With max-file 1 the file starts afresh; files left by a larger max-file
// go at the next rotation.
func TestSingleFileAndLeftovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{MaxSize: 300, MaxFiles: 4})
	for i := 0; i < 60; i++ {
		_ = w.Write("stdout", []byte(fmt.Sprintf("line %d\n", i)), time.Now())
	}
	_ = w.Close()
	if len(logFiles(path)) != 4 {
		t.Fatalf("files %q", logFiles(path))
	}
	w, _ = Open(path, Limits{MaxSize: 300, MaxFiles: 1})
	for i := 60; i < 120; i++ {
		_ = w.Write("stdout", []byte(fmt.Sprintf("line %d\n", i)), time.Now())
		if total, names := diskSize(t, path); i > 70 && (total > 300 || len(names) != 1) {
			t.Fatalf("max-file 1: %d bytes in %q", total, names)
		}
	}
	_ = w.Close()
	checkRun(t, readLogs(t, path, ReadOptions{Stdout: true, Tail: -1}), 119)
}

// A record larger than max-size gets a file of its own rather than being
// lost or split.
func TestRecordLargerThanMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{MaxSize: 100, MaxFiles: 3})
	_ = w.Write("stdout", []byte("a\n"), time.Now())
	big := strings.Repeat("x", 300)
	_ = w.Write("stdout", []byte(big+"\n"), time.Now())
	_ = w.Write("stdout", []byte("b\n"), time.Now())
	_ = w.Close()
	got := readLogs(t, path, ReadOptions{Stdout: true, Tail: -1})
	if strings.Join(got, "|") != "a|"+big+"|b" {
		t.Fatalf("entries %q", got)
	}
}

// A follower reads every entry, in order, while the writer rotates under
// it many times, and stops once the writer is done.
func TestFollowAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{MaxSize: 600, MaxFiles: 3})
	_ = w.Write("stdout", []byte("line 0\n"), time.Now())
	var running atomic.Bool
	running.Store(true)
	var mu sync.Mutex
	var lines []string
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(lines) }
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Stdout: true, Tail: -1, Follow: true, Running: running.Load}, func(e Entry) error {
			mu.Lock()
			lines = append(lines, strings.TrimSuffix(e.Log, "\n"))
			mu.Unlock()
			return nil
		})
	}()
	// Batches of 10 entries each rotate the log at least once (a file
	// holds 8) but stay within what the two older files keep, and the
	// next batch waits for the reader: nothing is dropped unread.
	const n = 301
	for i := 1; i < n; i++ {
		_ = w.Write("stdout", []byte(fmt.Sprintf("line %d\n", i)), time.Now())
		if i%10 == 0 {
			deadline := time.Now().Add(10 * time.Second)
			for count() < i+1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if count() != i+1 {
				t.Fatalf("after %d entries the follower read %d", i+1, count())
			}
		}
	}
	_ = w.Close()
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the writer")
	}
	if len(lines) != n {
		t.Fatalf("followed %d of %d entries", len(lines), n)
	}
	checkRun(t, lines, n-1)
	if len(logFiles(path)) != 3 {
		t.Fatalf("the writer did not rotate: %q", logFiles(path))
	}
}

// A reader that falls behind by more rotations than the log keeps goes on
// with the oldest file still there, in order, and misses only what was
// dropped.
func TestCursorFallenBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.log")
	f, _ := OpenFile(path, Limits{MaxSize: 10, MaxFiles: 2}, 0o600)
	_, _ = f.Write([]byte("aaaaaaaaa\n"))
	files, err := openSet(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &cursor{path: path}
	defer c.close()
	_ = c.start(files, 0, 0)
	var out bytes.Buffer
	each := func(p []byte) error { out.Write(p); return nil }
	if err := c.read(each, func() {}); err != nil || out.String() != "aaaaaaaaa\n" {
		t.Fatalf("first read %q %v", out.String(), err)
	}
	for _, r := range []string{"bbbbbbbbb\n", "ccccccccc\n", "ddddddddd\n", "eeeeeeeee\n"} {
		_, _ = f.Write([]byte(r))
	}
	_ = f.Close()
	out.Reset()
	if err := c.read(each, func() {}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ddddddddd\neeeeeeeee\n" {
		t.Fatalf("after falling behind: %q", out.String())
	}
}

// Copy streams a plain-text log across its rotated files and, following,
// across rotations; a log not there yet is waited for.
func TestCopyFollowsRawLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fn.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	done := make(chan error, 1)
	go func() { done <- Copy(ctx, path, true, pw); pw.Close() }()
	f, err := OpenFile(path, Limits{MaxSize: 64, MaxFiles: 3}, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	buf := make([]byte, 4096)
	var got bytes.Buffer
	for i := 0; i < 40; i++ {
		rec := fmt.Sprintf("START %d\nout %d\n", i, i)
		want.WriteString(rec)
		_, _ = f.Write([]byte(rec))
		for got.Len() < want.Len() {
			_ = pr.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := pr.Read(buf)
			if err != nil {
				t.Fatalf("after record %d: %v (got %q)", i, err, got.String())
			}
			got.Write(buf[:n])
		}
	}
	if got.String() != want.String() {
		t.Fatalf("followed\n%q\nwant\n%q", got.String(), want.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Without follow: the files there are, oldest first.
	var all bytes.Buffer
	if err := Copy(context.Background(), path, false, &all); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(want.String(), all.String()) || all.Len() > 3*64 || all.Len() < 64 {
		t.Fatalf("copy of the rotated log: %q", all.String())
	}
	_ = f.Close()
}

// A record being written (no newline yet) is not part of the tail, and
// tail 0 with follow sends only what comes after.
func TestTailSkipsPartialRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{})
	_ = w.Write("stdout", []byte("line 0\n"), time.Now())
	_ = w.Write("stdout", []byte("line 1\n"), time.Now())
	_ = w.Close()
	raw, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = raw.WriteString(`{"log":"line 2\n","stream":"std`)
	if got := readLogs(t, path, ReadOptions{Stdout: true, Tail: 1}); strings.Join(got, "|") != "line 1" {
		t.Fatalf("tail 1 with a partial record: %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, path, ReadOptions{Stdout: true, Tail: 0, Follow: true}, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	time.Sleep(2 * pollInterval)
	_, _ = raw.WriteString(`out","time":"2026-01-01T00:00:00Z"}` + "\n")
	raw.Close()
	select {
	case l := <-got:
		if l != "line 2\n" {
			t.Fatalf("followed %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the completed record was not followed")
	}
	cancel()
	<-done
	if len(got) != 0 {
		t.Fatalf("tail 0 sent old entries: %q", <-got)
	}
}

// Lines longer than any record a writer makes are damage: readers skip
// them, backwards and forwards, without holding them.
func TestOverlongLinesAreSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := Open(path, Limits{})
	_ = w.Write("stdout", []byte("before\n"), time.Now())
	_ = w.Close()
	raw, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = raw.Write(bytes.Repeat([]byte("z"), 3*maxRecord))
	_, _ = raw.WriteString("\n")
	raw.Close()
	w, _ = Open(path, Limits{})
	_ = w.Write("stdout", []byte("after\n"), time.Now())
	_ = w.Close()
	if got := readLogs(t, path, ReadOptions{Stdout: true, Tail: -1}); strings.Join(got, "|") != "before|after" {
		t.Fatalf("forward: %q", got)
	}
	if got := readLogs(t, path, ReadOptions{Stdout: true, Tail: 2}); strings.Join(got, "|") != "before|after" {
		t.Fatalf("tail: %q", got)
	}
}

// A rotation drops the rotated files whose newest record is older than
// the log's retention, and keeps the younger ones and the current file.
func TestRotationDropsExpired(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	f, err := OpenFile(path, Limits{MaxSize: 10, MaxFiles: 4}, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, rec := range []string{"old-1-rec\n", "old-2-rec\n", "young-rec\n"} {
		if _, err := f.Write([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	// c.log.2 holds old-1, c.log.1 old-2, c.log young; age the first two.
	long := time.Now().Add(-3 * 24 * time.Hour)
	for _, n := range []int{1, 2} {
		if err := os.Chtimes(rotated(path, n), long, long); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetRetention(path, 1); err != nil || Retention(path) != 1 {
		t.Fatalf("retention: %v %d", err, Retention(path))
	}
	if _, err := f.Write([]byte("next-recd\n")); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for n := 1; n < 4; n++ {
		if data, err := os.ReadFile(rotated(path, n)); err == nil {
			kept = append(kept, string(data))
		}
	}
	if len(kept) != 1 || kept[0] != "young-rec\n" {
		t.Errorf("rotated files after a rotation with 1 day of retention: %q", kept)
	}
	if err := SetRetention(path, 0); err != nil || Retention(path) != 0 {
		t.Errorf("removing the retention: %v %d", err, Retention(path))
	}
}
