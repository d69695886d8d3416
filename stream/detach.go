package stream

// Detach keys: a client attached to a terminal leaves it running by
// typing a key sequence (ctrl-p ctrl-q unless named otherwise), as docker
// lets it. The engine looks for them in what a client sends; a client
// watches for them in what it forwards, to know that it was let go.

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultDetachKeys are ctrl-p ctrl-q.
var DefaultDetachKeys = []byte{16, 17}

// ErrDetached ends a stdin copy whose client typed the detach keys.
var ErrDetached = errors.New("detached")

// ParseDetachKeys reads a detach key sequence as docker spells it:
// comma-separated keys, each a single character, "ctrl-" with one of
// a-z @ [ \ ] ^ _, or "DEL". "" is the default sequence.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return DefaultDetachKeys, nil
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
				return nil, fmt.Errorf("Unknown character: '%s'", k)
			}
		default:
			return nil, fmt.Errorf("Unknown character: '%s'", k)
		}
	}
	return out, nil
}

// detachReader passes its input on until the detach keys come, which it
// holds back; then it calls detached (once) and answers ErrDetached. A
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

func NewDetachReader(r io.Reader, keys []byte, detached func()) io.Reader {
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
			return 0, ErrDetached
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

// WatchKeys passes r on unchanged and calls seen once the keys went by.
func WatchKeys(r io.Reader, keys []byte, seen func()) io.Reader {
	return &keyWatcher{r: r, keys: keys, seen: seen}
}

type keyWatcher struct {
	r    io.Reader
	keys []byte
	seen func()
	pos  int
	done bool
}

func (w *keyWatcher) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	for _, b := range p[:n] {
		if w.done {
			break
		}
		if b != w.keys[w.pos] {
			w.pos = 0
		}
		if b == w.keys[w.pos] {
			w.pos++
			if w.pos == len(w.keys) {
				w.done = true
				w.seen()
			}
		}
	}
	return n, err
}
