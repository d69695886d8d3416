package nativeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"
	wstream "github.com/wharf-dev/wharf/stream"
)

// runContainer is the CLI's `run` without -d and without a TTY in one
// request instead of four (create, attach, wait, start): it creates the
// container, answers 101 with its ID in X-Wharf-Container-Id once the
// output stream and the wait are registered, starts it, streams its output
// and ends the stream with an Exit frame carrying the status of the wait
// (condition "removed" for an auto-removed container, else "next-exit").
// A create that fails answers as /containers/create does, before the
// stream. A start that fails sends an error frame with the daemon's
// message, then an Exit frame with docker's code: 126 or 127 when the
// command could not be run or found, 125 otherwise; an auto-removed
// container is then removed.
func (s *Server) runContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.createFromRequest(r, func(req *wharf.CreateRequest) error {
		if req.Config.Tty {
			return fmt.Errorf("a container with a TTY is run with create, attach and start: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	})
	if err != nil {
		return err
	}
	conn, rw, answer, err := hijack.Take(w, r, false, "X-Wharf-Container-Id: "+c.ID+"\r\n")
	if err != nil {
		return err
	}
	defer hijack.Close(conn)
	// The stream ends when the container's output or the client does.
	ctx := context.WithoutCancel(r.Context())

	cond := "next-exit"
	if c.HostConfig.AutoRemove {
		cond = "removed"
	}
	type waited struct {
		code int
		err  error
	}
	waitReady, waitDone := make(chan struct{}), make(chan waited, 1)
	go func() {
		var once sync.Once
		ready := func() { once.Do(func() { close(waitReady) }) }
		code, err := s.c.Wait(ctx, c.ID, cond, ready)
		ready()
		waitDone <- waited{code, err}
	}()
	attachReady, attachDone := make(chan struct{}), make(chan error, 1)
	go func() {
		var once sync.Once
		ready := func() { once.Do(func() { close(attachReady) }) }
		err := s.c.Attach(ctx, c.ID, container.AttachOptions{
			Stdin:  boolQuery(r, "stdin") && c.Config.OpenStdin,
			Stdout: true, Stderr: true,
			Stream: rw, Registered: ready,
		})
		ready()
		attachDone <- err
	}()
	<-waitReady
	<-attachReady
	answer()

	// A container run with --rm that cannot start is removed by the
	// engine, as dockerd removes it.
	if err := s.c.Start(ctx, c.ID); err != nil {
		code := 125
		var se *container.StartError
		if errors.As(err, &se) && (se.Code == 126 || se.Code == 127) {
			code = se.Code
		}
		hijack.WriteError(conn, httperr.Message(err))
		_ = wstream.WriteFrame(rw, wstream.Exit, []byte(strconv.Itoa(code)))
		return nil
	}
	if err := <-attachDone; err != nil {
		s.log.Debug("run: attach ended", "container", c.ID, "err", err)
	}
	res := <-waitDone
	if res.err != nil {
		hijack.WriteError(conn, res.err.Error())
		res.code = 125
	}
	_ = wstream.WriteFrame(rw, wstream.Exit, []byte(strconv.Itoa(res.code)))
	return nil
}
