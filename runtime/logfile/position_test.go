package logfile

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A read to a position gives the records written before the position was
// taken, none after, whatever rotations came in between; a position whose
// file rotated out of the log gives none.
func TestReadToPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	// Records of about 70 bytes, 4 to a file, 3 files kept.
	w, err := Open(path, Limits{MaxSize: 300, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Unix(1, 0)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := w.Write("stdout", []byte(strconv.Itoa(i)+"\n"), now); err != nil {
				t.Fatal(err)
			}
		}
	}
	nums := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, strconv.Itoa(i))
		}
		return out
	}
	read := func(set *Set, pos Position) []string {
		var got []string
		if err := set.ReadTo(pos, ReadOptions{Stdout: true, Stderr: true, Tail: 3}, func(e Entry) error {
			got = append(got, strings.TrimSuffix(e.Log, "\n"))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	open := func() *Set {
		s, err := OpenSet(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	position := func() Position {
		pos, err := w.Position()
		if err != nil {
			t.Fatal(err)
		}
		return pos
	}
	// An empty log.
	if got := read(open(), position()); len(got) != 0 {
		t.Fatalf("read of an empty log: %q", got)
	}
	write(0, 6)
	set := open()
	pos := position()
	if got := read(set, pos); !equal(got, nums(0, 6)) {
		t.Fatalf("read to the position at once: %q", got)
	}
	// The end of a log no one writes.
	set = open()
	end, err := set.End()
	if err != nil {
		t.Fatal(err)
	}
	if end.Size != pos.Size || !bytes.Equal(end.Last, pos.Last) {
		t.Fatalf("end %+v, the writer's position %+v", end, pos)
	}
	if got := read(set, end); !equal(got, nums(0, 6)) {
		t.Fatalf("read to the end: %q", got)
	}
	// The position's file rotated out of the log (3 files kept) while
	// the set held it, and others took its place (its inode, maybe).
	set = open()
	pos = position()
	write(6, 30)
	if got := read(set, pos); !equal(got, nums(0, 6)) {
		t.Fatalf("read to a position rotated out of the log: %q", got)
	}
	// The position's file is newer than the set: the log rotated
	// between the opening and the position.
	set = open()
	write(30, 36)
	pos = position()
	write(36, 40)
	got := read(set, pos)
	if !runEnding(got, 35) || len(got) < 7 {
		t.Fatalf("read to a position newer than the set: %q", got)
	}
	// Rotated out of the log between the opening and the read, with
	// files after it: the set's files only.
	set = open()
	write(40, 42)
	pos = position()
	write(42, 70)
	got = read(set, pos)
	if !runEnding(got, 39) {
		t.Fatalf("read to a position gone from the log: %q", got)
	}
}

// runEnding reports whether got is consecutive numbers ending at last.
func runEnding(got []string, last int) bool {
	if len(got) == 0 {
		return false
	}
	for i := range got {
		if got[i] != strconv.Itoa(last-len(got)+1+i) {
			return false
		}
	}
	return true
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
