package nativeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"
	"github.com/wharf-dev/wharf/server/logstream"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	wstream "github.com/wharf-dev/wharf/stream"
)

func (s *Server) routes() {
	p := wharf.Prefix
	s.handle("GET "+p+"/version", func(w http.ResponseWriter, r *http.Request) error { return writeJSON(w, 200, s.sys.Version()) })
	s.handle("GET "+p+"/info", func(w http.ResponseWriter, r *http.Request) error { return writeJSON(w, 200, s.sys.Info(r.Context())) })
	s.handle("GET "+p+"/_ping", func(w http.ResponseWriter, r *http.Request) error { _, err := w.Write([]byte("OK")); return err })

	s.handle("POST "+p+"/containers/create", s.createContainer)
	s.handle("POST "+p+"/containers/run", s.runContainer)
	s.handle("GET "+p+"/containers/json", s.listContainers)
	s.handle("POST "+p+"/containers/prune", s.pruneContainers)
	s.handle("GET "+p+"/containers/{id}/json", s.inspectContainer)
	s.handle("POST "+p+"/containers/{id}/start", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Start(r.Context(), r.PathValue("id")))
	})
	s.handle("POST "+p+"/containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) error {
		t, err := intQuery(r, "t")
		if err != nil {
			return err
		}
		return noContent(w, s.c.Stop(r.Context(), r.PathValue("id"), t, r.URL.Query().Get("signal")))
	})
	s.handle("POST "+p+"/containers/{id}/restart", func(w http.ResponseWriter, r *http.Request) error {
		t, err := intQuery(r, "t")
		if err != nil {
			return err
		}
		return noContent(w, s.c.Restart(r.Context(), r.PathValue("id"), t))
	})
	s.handle("POST "+p+"/containers/{id}/kill", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")))
	})
	s.handle("POST "+p+"/containers/{id}/pause", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Pause(r.Context(), r.PathValue("id")))
	})
	s.handle("POST "+p+"/containers/{id}/unpause", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Unpause(r.Context(), r.PathValue("id")))
	})
	s.handle("POST "+p+"/containers/{id}/rename", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Rename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")))
	})
	s.handle("POST "+p+"/containers/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := sizeQuery(r)
		if err != nil {
			return err
		}
		return noContent(w, s.c.Resize(r.Context(), r.PathValue("id"), h, wd))
	})
	s.handle("POST "+p+"/containers/{id}/wait", s.waitContainer)
	s.handle("POST "+p+"/containers/{id}/attach", s.attachContainer)
	s.handle("DELETE "+p+"/containers/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Remove(r.Context(), r.PathValue("id"), container.RemoveOptions{Force: boolQuery(r, "force"), RemoveVolumes: boolQuery(r, "v")}))
	})
	s.handle("GET "+p+"/containers/{id}/logs", s.logs)
	s.handle("GET "+p+"/containers/{id}/top", s.top)
	s.handle("GET "+p+"/containers/{id}/stats", s.stats)
	s.handle("POST "+p+"/containers/{id}/exec", s.execCreate)
	s.handle("POST "+p+"/exec/{id}/start", s.execStart)
	s.handle("POST "+p+"/containers/{id}/exec/run", s.execRun)
	s.handle("POST "+p+"/exec/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := sizeQuery(r)
		if err != nil {
			return err
		}
		return noContent(w, s.c.ExecResize(r.Context(), r.PathValue("id"), h, wd))
	})
	s.handle("GET "+p+"/exec/{id}/json", s.execInspect)
	s.imageRoutes()
	s.buildRoutes()
	s.networkRoutes()
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func sizeQuery(r *http.Request) (uint16, uint16, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("invalid terminal size: %w", errdefs.ErrInvalidArgument)
	}
	return uint16(h), uint16(wd), nil
}

func (s *Server) createContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.createFromRequest(r, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wharf.CreateResponse{ID: c.ID, Warnings: []string{}})
}

// createFromRequest creates a container from a create request's body and
// its name parameter; check, when set, vets the request first.
func (s *Server) createFromRequest(r *http.Request, check func(*wharf.CreateRequest) error) (*container.Container, error) {
	var req wharf.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(&req); err != nil {
			return nil, err
		}
	}
	o, err := createRequest(r.URL.Query().Get("name"), &req).Options()
	if err != nil {
		return nil, err
	}
	return s.c.Create(r.Context(), o)
}

// createRequest copies the native create request into the engine's
// CreateRequest, field by field: what the values mean is decided once, by
// the engine's translation, which the Docker API shares.
func createRequest(name string, req *wharf.CreateRequest) *container.CreateRequest {
	cfg := req.Config
	out := &container.CreateRequest{
		Name: name,
		Config: container.Config{
			Hostname: cfg.Hostname, User: cfg.User, Tty: cfg.Tty, OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
			Env: cfg.Env, Cmd: cfg.Cmd, Image: cfg.Image, WorkingDir: cfg.WorkingDir, Entrypoint: cfg.Entrypoint,
			Labels: cfg.Labels, StopSignal: cfg.StopSignal, StopTimeout: cfg.StopTimeout,
			ExposedPorts: cfg.ExposedPorts, Volumes: cfg.Volumes,
		},
	}
	if h := req.HostConfig; h != nil {
		out.HostConfig = hostConfigRequest(h)
	}
	if nc := req.NetworkingConfig; nc != nil && len(nc.EndpointsConfig) > 0 {
		out.Endpoints = map[string]*container.EndpointOptions{}
		for name, es := range nc.EndpointsConfig {
			var eo *container.EndpointOptions
			if es != nil {
				eo = &container.EndpointOptions{Aliases: es.Aliases}
				if es.IPAMConfig != nil {
					eo.IPv4Address = es.IPAMConfig.IPv4Address
				}
			}
			out.Endpoints[name] = eo
		}
	}
	return out
}

// hostConfigRequest copies the native HostConfig (see createRequest).
func hostConfigRequest(h *wharf.HostConfig) *container.HostConfigRequest {
	out := &container.HostConfigRequest{
		NetworkMode:     h.NetworkMode,
		RestartPolicy:   container.RestartPolicy{Name: h.RestartPolicy.Name, MaximumRetryCount: h.RestartPolicy.MaximumRetryCount},
		AutoRemove:      h.AutoRemove,
		CapAdd:          h.CapAdd,
		CapDrop:         h.CapDrop,
		Privileged:      h.Privileged,
		ReadonlyRootfs:  h.ReadonlyRootfs,
		SecurityOpt:     h.SecurityOpt,
		Init:            h.Init,
		Runtime:         h.Runtime,
		Memory:          h.Memory,
		MemorySwap:      h.MemorySwap,
		NanoCPUs:        h.NanoCPUs,
		CPUShares:       h.CPUShares,
		PidsLimit:       h.PidsLimit,
		PublishAllPorts: h.PublishAllPorts,
		Binds:           h.Binds,
		Tmpfs:           h.Tmpfs,
		VolumesFrom:     h.VolumesFrom,
		LogConfig:       container.LogConfig{Type: h.LogConfig.Type, Config: h.LogConfig.Config},
	}
	for _, u := range h.Ulimits {
		out.Ulimits = append(out.Ulimits, container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if len(h.PortBindings) > 0 {
		out.PortBindings = map[string][]container.PortBindingRequest{}
		for key, bs := range h.PortBindings {
			out.PortBindings[key] = []container.PortBindingRequest{}
			for _, b := range bs {
				out.PortBindings[key] = append(out.PortBindings[key], container.PortBindingRequest{HostIP: b.HostIP, HostPort: b.HostPort})
			}
		}
	}
	for _, wm := range h.Mounts {
		m := volume.Mount{Type: wm.Type, Source: wm.Source, Target: wm.Target, ReadOnly: wm.ReadOnly}
		if wm.BindOptions != nil {
			m.Propagation = wm.BindOptions.Propagation
		}
		if wm.VolumeOptions != nil {
			m.NoCopy = wm.VolumeOptions.NoCopy
		}
		if wm.TmpfsOptions != nil {
			m.TmpfsSize, m.TmpfsMode = wm.TmpfsOptions.SizeBytes, wm.TmpfsOptions.Mode
		}
		out.Mounts = append(out.Mounts, m)
	}
	return out
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func containerJSON(c *container.Container, logPath string) *wharf.ContainerJSON {
	st := c.State
	init := c.HostConfig.Init
	pids := c.HostConfig.PidsLimit
	j := &wharf.ContainerJSON{
		ID:      c.ID,
		Created: ts(c.Created),
		Path:    c.Path,
		Args:    c.Args,
		State: &wharf.State{
			Status: st.Status, Running: st.Running(), Paused: st.Status == container.StatusPaused,
			Restarting: st.Status == container.StatusRestarting, OOMKilled: st.OOMKilled, Dead: st.Status == container.StatusDead,
			Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error, StartedAt: ts(st.StartedAt), FinishedAt: ts(st.FinishedAt),
		},
		Image:        c.ImageID,
		LogPath:      logPath,
		Name:         "/" + c.Name,
		RestartCount: c.RestartCount,
		Driver:       "overlay2",
		Platform:     "linux",
		ExecIDs:      c.ExecIDs,
		HostConfig: &wharf.HostConfig{
			NetworkMode: c.HostConfig.NetworkMode, RestartPolicy: wharf.RestartPolicy{Name: c.HostConfig.RestartPolicy.Name, MaximumRetryCount: c.HostConfig.RestartPolicy.MaximumRetryCount},
			AutoRemove: c.HostConfig.AutoRemove, CapAdd: c.HostConfig.CapAdd, CapDrop: c.HostConfig.CapDrop, Privileged: c.HostConfig.Privileged,
			ReadonlyRootfs: c.HostConfig.ReadonlyRootfs, SecurityOpt: c.HostConfig.SecurityOpt, Init: &init, Runtime: c.Runtime,
			Memory: c.HostConfig.Memory, MemorySwap: c.HostConfig.MemorySwap, NanoCPUs: c.HostConfig.NanoCPUs, CPUShares: c.HostConfig.CPUShares,
			PidsLimit: &pids,
		},
		GraphDriver: wharf.GraphDriver{Name: "overlay2"},
		Mounts:      []wharf.MountPoint{},
		Config: &wharf.Config{
			Hostname: c.Config.Hostname, User: c.Config.User, Tty: c.Config.Tty, OpenStdin: c.Config.OpenStdin, StdinOnce: c.Config.StdinOnce,
			Env: c.Config.Env, Cmd: c.Config.Cmd, Image: c.Config.Image, WorkingDir: c.Config.WorkingDir, Entrypoint: c.Config.Entrypoint,
			Labels: c.Config.Labels, StopSignal: c.Config.StopSignal, StopTimeout: c.Config.StopTimeout, ExposedPorts: c.Config.ExposedPorts,
		},
		NetworkSettings: &wharf.NetworkSettings{Networks: map[string]*wharf.EndpointSettings{}},
	}
	for _, u := range c.HostConfig.Ulimits {
		j.HostConfig.Ulimits = append(j.HostConfig.Ulimits, wharf.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	mode := c.HostConfig.NetworkMode
	if mode == "" || mode == "default" {
		mode = "none"
	}
	if len(c.NetworkSettings.Networks) == 0 && !strings.HasPrefix(mode, "container:") {
		j.NetworkSettings.Networks[mode] = &wharf.EndpointSettings{}
	}
	j.HostConfig.PublishAllPorts = c.HostConfig.PublishAllPorts
	j.HostConfig.VolumesFrom = c.HostConfig.VolumesFrom
	j.HostConfig.LogConfig = wharf.LogConfig{Type: c.HostConfig.LogConfig.Type, Config: c.HostConfig.LogConfig.Config}
	if j.HostConfig.LogConfig.Type == "" {
		j.HostConfig.LogConfig.Type = container.LogDriverJSONFile
	}
	for _, b := range c.HostConfig.PortBindings {
		if j.HostConfig.PortBindings == nil {
			j.HostConfig.PortBindings = map[string][]wharf.PortBinding{}
		}
		ip := ""
		if b.HostIP.IsValid() {
			ip = b.HostIP.String()
		}
		j.HostConfig.PortBindings[b.Key()] = append(j.HostConfig.PortBindings[b.Key()], wharf.PortBinding{HostIP: ip, HostPort: b.HostPortString()})
	}
	return j
}

// logPather is implemented by engines that can say where a log lives.
type logPather interface{ LogPath(id string) string }

func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	lp := ""
	if l, ok := s.c.(logPather); ok {
		lp = l.LogPath(c.ID)
	}
	j := containerJSON(c, lp)
	containerNetworkJSON(r.Context(), j, c, s.vols)
	return writeJSON(w, 200, j)
}

func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) error {
	all := boolQuery(r, "all")
	filters := map[string][]string{}
	if f := r.URL.Query().Get("filters"); f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			// docker also accepts {"key":{"value":true}}.
			var alt map[string]map[string]bool
			if err2 := json.Unmarshal([]byte(f), &alt); err2 != nil {
				return fmt.Errorf("invalid filters: %v: %w", err, errdefs.ErrInvalidArgument)
			}
			for k, vs := range alt {
				for v := range vs {
					filters[k] = append(filters[k], v)
				}
			}
		}
	}
	now := time.Now()
	out := []wharf.Container{}
	for _, c := range s.c.List(r.Context()) {
		if !all && !c.State.Running() && c.State.Status != container.StatusRestarting && len(filters["status"]) == 0 {
			continue
		}
		ok, err := container.MatchFilters(c, filters, func(ref string) *container.Container {
			o, err := s.c.Get(r.Context(), ref)
			if err != nil {
				return nil
			}
			return o
		})
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		cmd := strings.Join(append([]string{c.Path}, c.Args...), " ")
		out = append(out, wharf.Container{
			ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Config.Image, ImageID: c.ImageID, Command: cmd,
			Created: c.Created.Unix(), State: c.State.Status, Status: c.State.StatusText(now), Labels: c.Config.Labels,
			Ports: listPorts(c),
		})
	}
	return writeJSON(w, 200, out)
}

func (s *Server) pruneContainers(w http.ResponseWriter, r *http.Request) error {
	ids, reclaimed, err := s.c.Prune(r.Context())
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	return writeJSON(w, 200, wharf.ContainerPruneReport{ContainersDeleted: ids, SpaceReclaimed: reclaimed})
}

func (s *Server) waitContainer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.c.Get(r.Context(), id); err != nil {
		return err
	}
	fw := hijack.NewFlushWriter(w)
	headerSent := false
	code, err := s.c.Wait(r.Context(), id, r.URL.Query().Get("condition"), func() {
		// Answer the headers once the waiter is registered, so a client
		// may start the container and be sure to see its exit.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fw.Flush()
		headerSent = true
	})
	if err != nil && !headerSent {
		return err
	}
	resp := wharf.WaitResponse{StatusCode: code}
	if err != nil {
		resp.Error = &struct{ Message string }{err.Error()}
	}
	return json.NewEncoder(fw).Encode(resp)
}

func (s *Server) attachContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	conn, rw, answer, err := hijack.Take(w, r, c.Config.Tty, "")
	if err != nil {
		return err
	}
	defer hijack.Close(conn)
	o := container.AttachOptions{
		Stdin:      boolQuery(r, "stdin") && c.Config.OpenStdin,
		Stdout:     boolQuery(r, "stdout"),
		Stderr:     boolQuery(r, "stderr"),
		Stream:     rw,
		Registered: answer,
	}
	// A hijacked connection has no request context worth the name: the
	// stream ends when the container's output or the client does.
	err = s.c.Attach(context.WithoutCancel(r.Context()), c.ID, o)
	answer()
	if err != nil {
		if !c.Config.Tty {
			hijack.WriteError(conn, httperr.Message(err))
		}
		s.log.Debug("attach ended", "container", c.ID, "err", err)
	}
	return nil
}

// logs serves the shared logs core (server/logstream): a container with
// a TTY has one raw stream, others a multiplexed one.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) error {
	o, err := logstream.ParseOptions(r.URL.Query())
	if err != nil {
		return err
	}
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := logstream.Framing{ContentType: logstream.MultiplexedStream, Mux: !c.Config.Tty}
	return logstream.Serve(w, r, s.c, c, o, f)
}

func (s *Server) top(w http.ResponseWriter, r *http.Request) error {
	titles, procs, err := s.c.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	if procs == nil {
		procs = [][]string{}
	}
	return writeJSON(w, 200, wharf.TopResponse{Titles: titles, Processes: procs})
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream") != "0" && r.URL.Query().Get("stream") != "false"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	enc := json.NewEncoder(hijack.NewFlushWriter(w))
	for {
		st, err := s.c.Stats(r.Context(), c.ID)
		if err != nil {
			return nil
		}
		if err := enc.Encode(wharf.Stats{
			Read: st.Read, ID: c.ID, Name: "/" + c.Name, CPUUsage: st.CPUUsage, SystemUsage: st.SystemUsage,
			OnlineCPUs: st.OnlineCPUs, MemoryUsage: st.MemoryUsage, MemoryLimit: st.MemoryLimit, MemoryCache: st.MemoryCache,
			PidsCurrent: st.PidsCurrent, PidsLimit: st.PidsLimit,
		}); err != nil || !stream {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var cfg wharf.ExecConfig
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	id, err := s.createExec(r, &cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wharf.IDResponse{ID: id})
}

func (s *Server) createExec(r *http.Request, cfg *wharf.ExecConfig) (string, error) {
	return s.c.ExecCreate(r.Context(), r.PathValue("id"), container.ExecConfig{
		Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged,
		AttachStdin: cfg.AttachStdin, AttachStdout: cfg.AttachStdout, AttachStderr: cfg.AttachStderr,
	})
}

// execRun creates an exec and runs it attached in one hijacked request, the
// CLI's `exec` without -d: the exec's ID comes in the X-Wharf-Exec-Id
// header, and a stream without a TTY ends with an Exit frame carrying the
// exit code, so the CLI needs neither a create nor an inspect round trip.
func (s *Server) execRun(w http.ResponseWriter, r *http.Request) error {
	var cfg wharf.ExecConfig
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	id, err := s.createExec(r, &cfg)
	if err != nil {
		return err
	}
	return s.streamExec(w, r, id, cfg.Tty, cfg.ConsoleSize, true)
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req wharf.ExecStartRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	id := r.PathValue("id")
	x, err := s.c.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := s.c.ExecStart(r.Context(), id, nil, true); err != nil {
			return err
		}
		w.WriteHeader(200)
		return nil
	}
	return s.streamExec(w, r, id, x.Config.Tty, req.ConsoleSize, false)
}

// streamExec hijacks the connection and runs exec id attached to it; with
// reportExit a stream without a TTY ends with the exit code (stream.Exit).
func (s *Server) streamExec(w http.ResponseWriter, r *http.Request, id string, tty bool, size *[2]uint, reportExit bool) error {
	header := ""
	if reportExit {
		header = "X-Wharf-Exec-Id: " + id + "\r\n"
	}
	conn, rw, answer, err := hijack.Take(w, r, tty, header)
	if err != nil {
		return err
	}
	defer hijack.Close(conn)
	answer()
	if size != nil && tty {
		go func() {
			time.Sleep(20 * time.Millisecond)
			_ = s.c.ExecResize(r.Context(), id, uint16(size[0]), uint16(size[1]))
		}()
	}
	if err := s.c.ExecStart(context.WithoutCancel(r.Context()), id, rw, false); err != nil {
		s.log.Warn("exec failed", "exec", id, "err", err)
		if !tty {
			hijack.WriteError(conn, httperr.Message(err))
		}
		return nil
	}
	if reportExit && !tty {
		if x, err := s.c.ExecInspect(r.Context(), id); err == nil && x.ExitCode != nil {
			_ = wstream.WriteFrame(rw, wstream.Exit, []byte(strconv.Itoa(*x.ExitCode)))
		}
	}
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	x, err := s.c.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := wharf.ExecInspect{ID: x.ID, ContainerID: x.ContainerID, Running: x.Running, ExitCode: x.ExitCode, Pid: x.Pid}
	if len(x.Config.Cmd) > 0 {
		out.ProcessConfig.Entrypoint = x.Config.Cmd[0]
		out.ProcessConfig.Arguments = x.Config.Cmd[1:]
	}
	out.ProcessConfig.Tty = x.Config.Tty
	out.ProcessConfig.User = x.Config.User
	return writeJSON(w, 200, out)
}
