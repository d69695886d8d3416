package hijack

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"0", time.Time{}},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		// What the docker CLI sends for an RFC 3339 timestamp with
		// nanoseconds: exactly that instant, not the nearest float.
		{"1796395515.000638140", time.Unix(1796395515, 638140)},
		{"1796395515.123456789", time.Unix(1796395515, 123456789)},
		{"2023-11-14T22:13:20Z", time.Unix(1700000000, 0)},
	} {
		got, err := ParseTime(c.in)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := ParseTime("yesterday"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad time: %v", err)
	}
}

func TestWriteError(t *testing.T) {
	var b bytes.Buffer
	WriteError(&b, "boom")
	if got := b.Bytes(); !bytes.Equal(got, []byte{3, 0, 0, 0, 0, 0, 0, 4, 'b', 'o', 'o', 'm'}) {
		t.Fatalf("frame %v", got)
	}
}

// A client that asks to upgrade gets 101 with the extra header, then the
// stream both ways; what it sent right after the request is not lost.
func TestTakeUpgrade(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, answer, err := Take(w, r, true, "Api-Version: 1.44\r\n")
		if err != nil {
			t.Error(err)
			return
		}
		defer Close(conn)
		answer()
		line, _ := bufio.NewReader(rw).ReadString('\n')
		_, _ = io.WriteString(rw, "echo:"+line)
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nhello\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Api-Version") != "1.44" || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	rest, _ := io.ReadAll(br)
	if !strings.HasPrefix(string(rest), "echo:hello") {
		t.Fatalf("stream %q", rest)
	}
}
