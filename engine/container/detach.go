package container

// Detach keys: a client attached to a container's or an exec's terminal
// leaves it running by typing a key sequence (ctrl-p ctrl-q unless the
// attach, the exec or the CLI names another), as dockerd lets it. As in
// dockerd, the keys are looked for only on a terminal's input: a stream
// without a TTY carries binary data that may hold any sequence.

import (
	"fmt"
	"io"
	"sync"

	"github.com/wharf-dev/wharf/errdefs"
	wstream "github.com/wharf-dev/wharf/stream"
)

// ParseDetachKeys reads a detach key sequence as docker spells it (see
// stream.ParseDetachKeys); a bad one is ErrInvalidArgument.
func ParseDetachKeys(s string) ([]byte, error) {
	k, err := wstream.ParseDetachKeys(s)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return k, nil
}

// errDetached ends a stdin copy whose client typed the detach keys.
var errDetached = wstream.ErrDetached

func newDetachReader(r io.Reader, keys []byte, detached func()) io.Reader {
	return wstream.NewDetachReader(r, keys, detached)
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
