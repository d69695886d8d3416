package container

// Detach keys: a client attached to a container's or an exec's terminal
// leaves it running by typing a key sequence (ctrl-p ctrl-q unless the
// attach, the exec or the CLI names another), as dockerd lets it. As in
// dockerd, the keys are looked for only on a terminal's input: a stream
// without a TTY carries binary data that may hold any sequence.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/wharf-dev/wharf/errdefs"
)

// defaultDetachKeys are ctrl-p ctrl-q.
var defaultDetachKeys = []byte{16, 17}

// errDetached ends a stdin copy whose client typed the detach keys.
var errDetached = errors.New("detached")

// ParseDetachKeys reads a detach key sequence as docker spells it:
// comma-separated keys, each a single character, "ctrl-" with one of
// a-z @ [ \ ] ^ _, or "DEL". "" is the default sequence.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return defaultDetachKeys, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case k == "DEL":
			out = append(out, 127)
		case len(k) == 6 && strings.HasPrefix(k, "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return nil, fmt.Errorf("Unknown character: '%s': %w", k, errdefs.ErrInvalidArgument)
			}
		default:
			return nil, fmt.Errorf("Unknown character: '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// detachReader passes its input on until the detach keys come, which it
// holds back; then it calls detached (once) and answers errDetached. A
// partial sequence followed by anything else is passed on as typed.
type detachReader struct {
	r        io.Reader
	keys     []byte
	detached func()

	pos  int    // keys matched so far, held back
	out  []byte // bytes to hand out before reading again
	buf  []byte
	err  error
	done bool
}

func newDetachReader(r io.Reader, keys []byte, detached func()) *detachReader {
	return &detachReader{r: r, keys: keys, detached: detached, buf: make([]byte, 4096)}
}

func (d *detachReader) Read(p []byte) (int, error) {
	for {
		if len(d.out) > 0 {
			n := copy(p, d.out)
			d.out = d.out[n:]
			return n, nil
		}
		if d.done {
			return 0, errDetached
		}
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.buf)
		d.err = err
		for _, b := range d.buf[:n] {
			if b != d.keys[d.pos] && d.pos > 0 {
				d.out = append(d.out, d.keys[:d.pos]...)
				d.pos = 0
			}
			if b == d.keys[d.pos] {
				d.pos++
				if d.pos == len(d.keys) {
					d.done = true
					d.detached()
					break
				}
				continue
			}
			d.out = append(d.out, b)
		}
		if d.err != nil && d.pos > 0 && !d.done {
			d.out = append(d.out, d.keys[:d.pos]...)
			d.pos = 0
		}
	}
}

// detachWriter writes to w until the client detaches, then drops what it
// is given: the process's output keeps being read (a terminal nobody
// reads would block it) but goes nowhere.
type detachWriter struct {
	mu       sync.Mutex
	w        io.Writer
	detached bool
}

func (d *detachWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.detached {
		return len(p), nil
	}
	if _, err := d.w.Write(p); err != nil {
		// The client is gone: the output has nowhere to go either.
		d.detached = true
	}
	return len(p), nil
}

func (d *detachWriter) detach() {
	d.mu.Lock()
	d.detached = true
	d.mu.Unlock()
}
