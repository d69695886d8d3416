package logfile

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzTail reads arbitrary bytes as a log of two files (a rotated one and
// the current one, split at split) and checks that the tail found reading
// backwards is the end of what reading forwards finds, whatever the files
// hold: damaged or partial records, stray newlines, no newline at all.
func FuzzTail(f *testing.F) {
	f.Add([]byte(`{"log":"a\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}`+"\n"+`{"log":"b\n","stream":"stderr","time":"2026-01-01T00:00:01Z"}`+"\n"), uint16(62), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16, n uint8) {
		dir := t.TempDir()
		path := filepath.Join(dir, "c-json.log")
		cut := min(int(split), len(data))
		if err := os.WriteFile(rotated(path, 1), data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data[cut:], 0o600); err != nil {
			t.Fatal(err)
		}
		read := func(tail int) []Entry {
			var out []Entry
			if err := Read(context.Background(), path, ReadOptions{Stdout: true, Stderr: true, Tail: tail}, func(e Entry) error {
				out = append(out, e)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return out
		}
		all := read(-1)
		tail := read(int(n))
		want := all[max(0, len(all)-int(n)):]
		if !slices.EqualFunc(tail, want, func(a, b Entry) bool {
			return a.Log == b.Log && a.Stream == b.Stream && a.Time.Equal(b.Time)
		}) {
			t.Fatalf("tail %d: %+v, want %+v", n, tail, want)
		}
	})
}
