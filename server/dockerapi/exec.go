package dockerapi

import (
	"context"
	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"
	"net/http"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
)

func (s *Server) execRoutes() {
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := sizeQuery(r)
		if err != nil {
			return err
		}
		if err := s.c.ExecResize(r.Context(), r.PathValue("id"), h, wd); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("GET /exec/{id}/json", s.execInspect)
}

// execCreateRequest is the body of POST /containers/{id}/exec (Docker's
// ExecOptions, declared by the client packages rather than the API types).
type execCreateRequest struct {
	User         string
	Privileged   bool
	Tty          bool
	ConsoleSize  *[2]uint `json:",omitempty"`
	AttachStdin  bool
	AttachStderr bool
	AttachStdout bool
	DetachKeys   string
	Env          []string
	WorkingDir   string
	Cmd          []string
}

// execStartRequest is the body of POST /exec/{id}/start.
type execStartRequest struct {
	Detach      bool
	Tty         bool
	ConsoleSize *[2]uint `json:",omitempty"`
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req execCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	id, err := s.c.ExecCreate(r.Context(), r.PathValue("id"), container.ExecConfig{
		Cmd: req.Cmd, Env: req.Env, User: req.User, WorkingDir: req.WorkingDir, Tty: req.Tty, Privileged: req.Privileged,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr,
		DetachKeys: req.DetachKeys,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mcontainer.ExecCreateResponse{ID: id})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req execStartRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	x, err := s.c.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := s.c.ExecStart(context.WithoutCancel(r.Context()), id, container.ExecStartOptions{Detach: true}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// The start request's Tty decides the framing, as on dockerd; the
	// process has the terminal its create asked for.
	conn, rw, answer, err := hijack.Take(w, r, req.Tty, "Api-Version: "+APIVersion+"\r\n")
	if err != nil {
		return err
	}
	defer hijack.Close(conn)
	answer()
	if req.ConsoleSize != nil && x.Config.Tty {
		go func() {
			// The terminal exists once the runtime has started the process.
			for i := 0; i < 50; i++ {
				time.Sleep(20 * time.Millisecond)
				if xi, err := s.c.ExecInspect(context.Background(), id); err == nil && xi.Pid != 0 {
					_ = s.c.ExecResize(context.Background(), id, uint16(req.ConsoleSize[0]), uint16(req.ConsoleSize[1]))
					return
				}
			}
		}()
	}
	err = s.c.ExecStart(context.WithoutCancel(r.Context()), id, container.ExecStartOptions{Stream: rw, Tty: &req.Tty})
	if err != nil {
		s.log.Warn("exec failed", "exec", id, "err", err)
		if !req.Tty {
			hijack.WriteError(conn, httperr.Message(err))
		}
	}
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	x, err := s.c.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	priv := x.Config.Privileged
	out := mcontainer.ExecInspectResponse{
		ID: x.ID, ContainerID: x.ContainerID, Running: x.Running, ExitCode: x.ExitCode, Pid: x.Pid,
		OpenStdin: x.Config.AttachStdin, OpenStdout: x.Config.AttachStdout, OpenStderr: x.Config.AttachStderr,
		ProcessConfig: &mcontainer.ExecProcessConfig{Tty: x.Config.Tty, User: x.Config.User, Privileged: &priv, Arguments: []string{}},
	}
	if len(x.Config.Cmd) > 0 {
		out.ProcessConfig.Entrypoint = x.Config.Cmd[0]
		out.ProcessConfig.Arguments = x.Config.Cmd[1:]
	}
	return writeJSON(w, http.StatusOK, out)
}
