package stream

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestMuxRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	o, e := NewMuxWriters(&buf)
	_, _ = o.Write([]byte("out1 "))
	_, _ = e.Write([]byte("err1"))
	_, _ = o.Write([]byte("out2"))
	_, _ = o.Write(nil)
	var so, se bytes.Buffer
	if err := Demux(&so, &se, &buf); err != nil {
		t.Fatal(err)
	}
	if so.String() != "out1 out2" || se.String() != "err1" {
		t.Fatalf("stdout %q stderr %q", so.String(), se.String())
	}
}

func TestDemuxErrors(t *testing.T) {
	frame := func(id byte, p string) []byte {
		h := make([]byte, 8)
		h[0] = id
		binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
		return append(h, p...)
	}
	var so, se bytes.Buffer
	err := Demux(&so, &se, bytes.NewReader(append(frame(1, "x"), frame(Systemerr, "boom")...)))
	if err == nil || err.Error() != "boom" || so.String() != "x" {
		t.Fatalf("system error frame: %v %q", err, so.String())
	}
	if err := Demux(&so, &se, bytes.NewReader(frame(7, "x"))); err == nil {
		t.Fatal("unknown stream id accepted")
	}
	if err := Demux(&so, &se, bytes.NewReader(frame(1, "abc")[:9])); err == nil {
		t.Fatal("truncated frame accepted")
	}
}

func FuzzDemux(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 1, 'e'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b bytes.Buffer
		_ = Demux(&a, &b, bytes.NewReader(data))
	})
}

func TestDemuxExit(t *testing.T) {
	var buf bytes.Buffer
	o, _ := NewMuxWriters(&buf)
	_, _ = o.Write([]byte("out"))
	if err := WriteFrame(&buf, Exit, []byte("42")); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	code, exited, err := DemuxExit(&so, &se, &buf)
	if err != nil || !exited || code != 42 || so.String() != "out" {
		t.Fatalf("DemuxExit: code %d exited %v err %v out %q", code, exited, err, so.String())
	}
	o.Write([]byte("no exit frame"))
	if _, exited, err := DemuxExit(&so, &se, &buf); exited || err != nil {
		t.Fatalf("a stream without an exit frame: exited %v err %v", exited, err)
	}
	_ = WriteFrame(&buf, Exit, []byte("x"))
	if _, _, err := DemuxExit(&so, &se, &buf); err == nil {
		t.Fatal("a malformed exit frame was accepted")
	}
	// An error frame: alone, the stream's error; followed by an exit
	// frame, both.
	buf.Reset()
	_ = WriteFrame(&buf, Systemerr, []byte("start failed"))
	if _, exited, err := DemuxExit(&so, &se, bytes.NewReader(buf.Bytes())); exited || err == nil || err.Error() != "start failed" {
		t.Fatalf("an error frame alone: exited %v err %v", exited, err)
	}
	_ = WriteFrame(&buf, Exit, []byte("127"))
	if code, exited, err := DemuxExit(&so, &se, &buf); !exited || code != 127 || err == nil || err.Error() != "start failed" {
		t.Fatalf("an error frame then an exit frame: code %d exited %v err %v", code, exited, err)
	}
	var big [8]byte
	big[0] = Exit
	binary.BigEndian.PutUint32(big[4:], 1<<30)
	if _, _, err := DemuxExit(&so, &se, bytes.NewReader(big[:])); err == nil {
		t.Fatal("a 1 GiB exit frame was accepted")
	}
}

// TestDemuxMarks checks that a Mark frame reaches its callback after the
// output before it, and that a plain Demux refuses one.
func TestDemuxMarks(t *testing.T) {
	var buf bytes.Buffer
	o, e := NewMuxWriters(&buf)
	_, _ = o.Write([]byte("before "))
	_, _ = e.Write([]byte("err"))
	_ = WriteFrame(&buf, Mark, []byte("t1"))
	_, _ = o.Write([]byte("after"))
	_ = WriteFrame(&buf, Mark, []byte("t2"))
	data := append([]byte(nil), buf.Bytes()...)
	var so, se bytes.Buffer
	var seen []string
	err := DemuxMarks(&so, &se, &buf, func(tok []byte) {
		seen = append(seen, string(tok)+"@"+so.String()+"|"+se.String())
	})
	if err != nil || len(seen) != 2 || seen[0] != "t1@before |err" || seen[1] != "t2@before after|err" {
		t.Fatalf("marks %q, err %v", seen, err)
	}
	if err := Demux(&so, &se, bytes.NewReader(data)); err == nil {
		t.Fatal("a Mark frame accepted by a stream that did not ask for marks")
	}
}
