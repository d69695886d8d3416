package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/server/hijack"
	"github.com/wharf-dev/wharf/server/httperr"

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

func (s *Server) containerRoutes() {
	s.handle("POST /containers/create", s.createContainer)
	s.handle("GET /containers/json", s.listContainers)
	s.handle("POST /containers/prune", s.pruneContainers)
	s.handle("GET /containers/{id}/json", s.inspectContainer)
	s.handle("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		// The engine removes an auto-remove container whose start
		// failed before it answers, as dockerd.
		if err := s.c.Start(r.Context(), id); err != nil {
			if errors.Is(err, portspec.ErrPortAllocated) {
				// dockerd's port allocator error has no class: 500.
				writeError(w, http.StatusInternalServerError, err)
				return nil
			}
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) error {
		t, err := intQuery(r, "t")
		if err != nil {
			return err
		}
		return noContent(w, s.c.Stop(r.Context(), r.PathValue("id"), t, r.URL.Query().Get("signal")))
	})
	s.handle("POST /containers/{id}/restart", func(w http.ResponseWriter, r *http.Request) error {
		t, err := intQuery(r, "t")
		if err != nil {
			return err
		}
		return noContent(w, s.c.Restart(r.Context(), r.PathValue("id"), t))
	})
	s.handle("POST /containers/{id}/kill", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")))
	})
	s.handle("POST /containers/{id}/pause", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Pause(r.Context(), r.PathValue("id")))
	})
	s.handle("POST /containers/{id}/unpause", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Unpause(r.Context(), r.PathValue("id")))
	})
	s.handle("POST /containers/{id}/rename", func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, s.c.Rename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")))
	})
	s.handle("POST /containers/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := sizeQuery(r)
		if err != nil {
			return err
		}
		if err := s.c.Resize(r.Context(), r.PathValue("id"), h, wd); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST /containers/{id}/wait", s.waitContainer)
	s.handle("POST /containers/{id}/attach", s.attachContainer)
	s.handle("DELETE /containers/{id}", s.removeContainer)
	s.handle("DELETE /containers/{parent}/{alias}", s.removeLink)
	s.handle("GET /containers/{id}/logs", s.logs)
	s.handle("GET /containers/{id}/top", s.top)
	s.handle("GET /containers/{id}/stats", s.stats)
	s.handle("POST /containers/{id}/update", s.updateContainer)
}

func sizeQuery(r *http.Request) (uint16, uint16, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("invalid terminal size: %w", errdefs.ErrInvalidArgument)
	}
	return uint16(h), uint16(wd), nil
}

// createRequest copies Docker's create request into the engine's
// CreateRequest, field by field: what the values mean (defaults, port and
// mount parsing, network names) is decided once, by the engine's
// translation, which the native API shares.
func createRequest(name string, req *mcontainer.CreateRequest) *container.CreateRequest {
	cfg := req.Config
	if cfg == nil {
		cfg = &mcontainer.Config{}
	}
	out := &container.CreateRequest{
		Name: name,
		Config: container.Config{
			Hostname: cfg.Hostname, User: cfg.User, Tty: cfg.Tty, OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
			Env: cfg.Env, Cmd: cfg.Cmd, Image: cfg.Image, WorkingDir: cfg.WorkingDir, Entrypoint: cfg.Entrypoint,
			Labels: cfg.Labels, StopSignal: cfg.StopSignal, StopTimeout: cfg.StopTimeout, Volumes: cfg.Volumes,
			Shell: cfg.Shell,
		},
	}
	if h := cfg.Healthcheck; h != nil {
		out.Config.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if len(cfg.ExposedPorts) > 0 {
		out.Config.ExposedPorts = map[string]struct{}{}
		for p := range cfg.ExposedPorts {
			out.Config.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if h := req.HostConfig; h != nil {
		out.HostConfig = hostConfigRequest(h)
	}
	if nc := req.NetworkingConfig; nc != nil && len(nc.EndpointsConfig) > 0 {
		out.Endpoints = map[string]*container.EndpointOptions{}
		for name, ep := range nc.EndpointsConfig {
			var eo *container.EndpointOptions
			if ep != nil {
				o := endpointOptions(ep)
				eo = &o
			}
			out.Endpoints[name] = eo
		}
	}
	return out
}

// hostConfigRequest copies Docker's HostConfig (see createRequest).
func hostConfigRequest(h *mcontainer.HostConfig) *container.HostConfigRequest {
	out := &container.HostConfigRequest{
		NetworkMode:     string(h.NetworkMode),
		RestartPolicy:   container.RestartPolicy{Name: string(h.RestartPolicy.Name), MaximumRetryCount: h.RestartPolicy.MaximumRetryCount},
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

		MemoryReservation: h.MemoryReservation,
		CPUPeriod:         h.CPUPeriod,
		CPUQuota:          h.CPUQuota,
		CpusetCpus:        h.CpusetCpus,
		CpusetMems:        h.CpusetMems,
		BlkioWeight:       h.BlkioWeight,
		Binds:             h.Binds,
		Tmpfs:             h.Tmpfs,
		VolumesFrom:       h.VolumesFrom,
		LogConfig:         container.LogConfig{Type: h.LogConfig.Type, Config: h.LogConfig.Config},
		Links:             h.Links,
		HostOptions: container.HostOptions{
			DnsSearch: h.DNSSearch, DnsOptions: h.DNSOptions, ExtraHosts: h.ExtraHosts, GroupAdd: h.GroupAdd,
			PidMode: string(h.PidMode), UTSMode: string(h.UTSMode), IpcMode: string(h.IpcMode), ShmSize: h.ShmSize,
			Sysctls: h.Sysctls, OomScoreAdj: h.OomScoreAdj, DeviceCgroupRules: h.DeviceCgroupRules,
			VolumeDriver: h.VolumeDriver, Isolation: string(h.Isolation), ContainerIDFile: h.ContainerIDFile,
			Annotations: h.Annotations, UsernsMode: string(h.UsernsMode), CgroupnsMode: string(h.CgroupnsMode),
		},
	}
	for _, d := range h.DNS {
		out.Dns = append(out.Dns, d.String())
	}
	for _, u := range h.Ulimits {
		if u != nil {
			out.Ulimits = append(out.Ulimits, container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	if len(h.PortBindings) > 0 {
		out.PortBindings = map[string][]container.PortBindingRequest{}
		for p, bs := range h.PortBindings {
			key := p.String()
			out.PortBindings[key] = []container.PortBindingRequest{}
			for _, b := range bs {
				pb := container.PortBindingRequest{HostPort: b.HostPort}
				if b.HostIP.IsValid() {
					pb.HostIP = b.HostIP.String()
				}
				out.PortBindings[key] = append(out.PortBindings[key], pb)
			}
		}
	}
	for _, mm := range h.Mounts {
		m := volume.Mount{Type: string(mm.Type), Source: mm.Source, Target: mm.Target, ReadOnly: mm.ReadOnly}
		if o := mm.BindOptions; o != nil {
			m.Propagation = string(o.Propagation)
			m.CreateSource = o.CreateMountpoint
		}
		if o := mm.VolumeOptions; o != nil {
			m.NoCopy = o.NoCopy
		}
		if o := mm.TmpfsOptions; o != nil {
			// The docker CLI sends tmpfs-mode's octal digits as they
			// are (1777 is 0o1777, not os.ModeSticky|0o777), and
			// dockerd passes them on as mode=%o.
			m.TmpfsSize, m.TmpfsMode = o.SizeBytes, uint32(o.Mode)
		}
		out.Mounts = append(out.Mounts, m)
	}
	return out
}

func (s *Server) createContainer(w http.ResponseWriter, r *http.Request) error {
	var body createBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if err := refuseUnsupported(body.Config, body.HostConfig); err != nil {
		return err
	}
	cr := createRequest(r.URL.Query().Get("name"), &body.CreateRequest)
	warnings := []string{}
	if w, err := migrateMacAddress(cr, body.MacAddress, requestVersion(r)); err != nil {
		return err
	} else if w != "" {
		warnings = append(warnings, w)
	}
	o, err := cr.Options()
	if err != nil {
		return err
	}
	c, err := s.c.Create(r.Context(), o)
	if err != nil {
		if _, ierr := s.i.Get(r.Context(), o.Config.Image); errdefs.IsNotFound(ierr) {
			// The docker CLI pulls on exactly this message.
			return fmt.Errorf("No such image: %s: %w", o.Config.Image, errdefs.ErrNotFound)
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, mcontainer.CreateResponse{ID: c.ID, Warnings: append(warnings, c.Warnings...)})
}

// portSummaries lists published ports as docker ps shows them.
func portSummaries(c *container.Container) []mcontainer.PortSummary {
	out := []mcontainer.PortSummary{}
	for _, b := range c.NetworkSettings.Ports {
		ps := mcontainer.PortSummary{PrivatePort: b.ContainerPort, PublicPort: b.HostPort, Type: b.Proto, IP: b.HostIP}
		if !ps.IP.IsValid() {
			ps.IP = netip.IPv4Unspecified()
		}
		out = append(out, ps)
	}
	return out
}

// networkName is the name docker shows for a container's network mode.
func networkName(mode string) string {
	switch mode {
	case "", "default":
		return "bridge"
	}
	return mode
}

func inspectResponse(c *container.Container, logPath, rootfs string) *mcontainer.InspectResponse {
	st := c.State
	init := c.HostConfig.Init
	pids := c.HostConfig.PidsLimit
	dir := strings.TrimSuffix(rootfs, "/rootfs")
	hc := c.HostConfig
	j := &mcontainer.InspectResponse{
		ID:      c.ID,
		Created: ts(c.Created),
		Path:    c.Path,
		Args:    nonNil(c.Args),
		State: &mcontainer.State{
			Status: mcontainer.ContainerState(st.Status), Running: st.Running(), Paused: st.Status == container.StatusPaused,
			Restarting: st.Status == container.StatusRestarting, OOMKilled: st.OOMKilled, Dead: st.Status == container.StatusDead,
			Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error, StartedAt: ts(st.StartedAt), FinishedAt: ts(st.FinishedAt),
		},
		Image:          c.ImageID,
		ResolvConfPath: dir + "/resolv.conf",
		HostnamePath:   dir + "/hostname",
		HostsPath:      dir + "/hosts",
		LogPath:        logPath,
		Name:           "/" + c.Name,
		RestartCount:   c.RestartCount,
		Driver:         "overlay2",
		Platform:       "linux",
		ExecIDs:        c.ExecIDs,
		HostConfig: &mcontainer.HostConfig{
			LogConfig:       logConfig(c.HostConfig.LogConfig),
			NetworkMode:     mcontainer.NetworkMode(hostNetworkMode(c.HostConfig.NetworkMode)),
			PortBindings:    portMap(c.HostConfig.PortBindings),
			RestartPolicy:   mcontainer.RestartPolicy{Name: mcontainer.RestartPolicyMode(restartName(c.HostConfig.RestartPolicy.Name)), MaximumRetryCount: c.HostConfig.RestartPolicy.MaximumRetryCount},
			PublishAllPorts: c.HostConfig.PublishAllPorts, VolumesFrom: c.HostConfig.VolumesFrom,
			AutoRemove: c.HostConfig.AutoRemove,
			CapAdd:     c.HostConfig.CapAdd, CapDrop: c.HostConfig.CapDrop,
			CgroupnsMode: mcontainer.CgroupnsMode(orString(hc.CgroupnsMode, "private")), IpcMode: mcontainer.IpcMode(orString(hc.IpcMode, "private")),
			PidMode: mcontainer.PidMode(hc.PidMode), UTSMode: mcontainer.UTSMode(hc.UTSMode), UsernsMode: mcontainer.UsernsMode(hc.UsernsMode),
			DNSOptions: hc.DnsOptions, DNSSearch: hc.DnsSearch, ExtraHosts: hc.ExtraHosts, GroupAdd: hc.GroupAdd,
			ShmSize: hc.ShmSize, Sysctls: hc.Sysctls, OomScoreAdj: hc.OomScoreAdj, Tmpfs: hc.Tmpfs,
			VolumeDriver: hc.VolumeDriver, ContainerIDFile: hc.ContainerIDFile, Annotations: hc.Annotations,
			Privileged: c.HostConfig.Privileged, ReadonlyRootfs: c.HostConfig.ReadonlyRootfs,
			SecurityOpt: c.HostConfig.SecurityOpt, Runtime: c.Runtime, Init: &init,
			Isolation: mcontainer.Isolation(hc.Isolation),
			Resources: mcontainer.Resources{
				Memory: c.HostConfig.Memory, MemorySwap: c.HostConfig.MemorySwap, NanoCPUs: c.HostConfig.NanoCPUs,
				CPUShares: c.HostConfig.CPUShares, PidsLimit: &pids,
				MemoryReservation: c.HostConfig.MemoryReservation, CPUPeriod: c.HostConfig.CPUPeriod, CPUQuota: c.HostConfig.CPUQuota,
				CpusetCpus: c.HostConfig.CpusetCpus, CpusetMems: c.HostConfig.CpusetMems, BlkioWeight: c.HostConfig.BlkioWeight,
				DeviceCgroupRules: hc.DeviceCgroupRules,
			},
			MaskedPaths:   []string{},
			ReadonlyPaths: []string{},
		},
		Mounts: mountPoints(c),
		Config: &mcontainer.Config{
			Hostname: c.Config.Hostname, User: c.Config.User, Tty: c.Config.Tty, OpenStdin: c.Config.OpenStdin, StdinOnce: c.Config.StdinOnce,
			AttachStdin: c.Config.OpenStdin, AttachStdout: true, AttachStderr: true,
			Env: nilIfEmpty(c.Config.Env), Cmd: c.Config.Cmd, Image: c.Config.Image, WorkingDir: c.Config.WorkingDir, Entrypoint: c.Config.Entrypoint,
			Labels: labels(c.Config.Labels), StopSignal: c.Config.StopSignal, StopTimeout: c.Config.StopTimeout, Volumes: c.Config.Volumes,
			Shell: c.Config.Shell,
		},
		NetworkSettings: networkSettings(c),
	}
	if h := c.Config.Healthcheck; h != nil {
		j.Config.Healthcheck = &mcontainer.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if h := st.Health; h != nil {
		j.State.Health = &mcontainer.Health{Status: mcontainer.HealthStatus(h.Status), FailingStreak: h.FailingStreak, Log: []*mcontainer.HealthcheckResult{}}
		for _, r := range h.Log {
			j.State.Health.Log = append(j.State.Health.Log, &mcontainer.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
		}
	}
	j.GraphDriver = &storage.DriverData{Name: "overlay2", Data: map[string]string{"MergedDir": rootfs, "UpperDir": dir + "/upper", "WorkDir": dir + "/work"}}
	if len(c.Config.ExposedPorts) > 0 {
		j.Config.ExposedPorts = network.PortSet{}
		for p := range c.Config.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				j.Config.ExposedPorts[port] = struct{}{}
			}
		}
	}
	for _, d := range hc.Dns {
		if a, err := netip.ParseAddr(d); err == nil {
			j.HostConfig.DNS = append(j.HostConfig.DNS, a)
		}
	}
	for _, u := range c.HostConfig.Ulimits {
		j.HostConfig.Ulimits = append(j.HostConfig.Ulimits, &mcontainer.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	return j
}

// logConfig is a container's log configuration as inspect shows it: a
// record from before log drivers reads as json-file, and the options are
// never null.
func logConfig(lc container.LogConfig) mcontainer.LogConfig {
	out := mcontainer.LogConfig{Type: lc.Type, Config: lc.Config}
	if out.Type == "" {
		out.Type = container.LogDriverJSONFile
	}
	if out.Config == nil {
		out.Config = map[string]string{}
	}
	return out
}

func hostNetworkMode(m string) string {
	if m == "" {
		return "default"
	}
	return m
}

func restartName(n string) string {
	if n == "" {
		return "no"
	}
	return n
}

func labels(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	j := inspectResponse(c, s.c.LogPath(c.ID), s.c.RootfsPath(c.ID))
	j.HostConfig.Links = s.linkNames(r.Context(), c)
	if boolQuery(r, "size") {
		rw := dirSize(upperDir(s.c.RootfsPath(c.ID)))
		j.SizeRw = &rw
	}
	return writeJSON(w, http.StatusOK, inspectJSON{InspectResponse: j, NetworkSettings: withLegacyFields(j.NetworkSettings)})
}

func summary(c *container.Container, now time.Time) mcontainer.Summary {
	cmd := strings.Join(append([]string{c.Path}, c.Args...), " ")
	sum := mcontainer.Summary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Config.Image, ImageID: c.ImageID, Command: cmd,
		Created: c.Created.Unix(), Ports: portSummaries(c), Labels: labels(c.Config.Labels),
		State: mcontainer.ContainerState(c.State.Status), Status: c.State.StatusText(now),
		NetworkSettings: &mcontainer.NetworkSettingsSummary{Networks: networkSettings(c).Networks},
		Mounts:          mountPoints(c),
	}
	sum.HostConfig.NetworkMode = hostNetworkMode(c.HostConfig.NetworkMode)
	return sum
}

func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) error {
	all := boolQuery(r, "all")
	f, err := filters(r)
	if err != nil {
		return err
	}
	limit, err := intQuery(r, "limit")
	if err != nil {
		return err
	}
	list := s.c.List(r.Context())
	byRef := func(ref string) *container.Container {
		for _, c := range list {
			if c.ID == ref || c.Name == strings.TrimPrefix(ref, "/") || strings.HasPrefix(c.ID, ref) {
				return c
			}
		}
		return nil
	}
	// A linked container is also listed under its link names
	// ("/parent/alias"), after its own, as dockerd lists it.
	linkNames := map[string][]string{}
	for _, c := range list {
		for _, l := range c.HostConfig.Links {
			linkNames[l.ChildID] = append(linkNames[l.ChildID], "/"+c.Name+"/"+l.Alias)
		}
	}
	if err := container.ValidateFilters(f); err != nil {
		return err
	}
	now := time.Now()
	out := []mcontainer.Summary{}
	for _, c := range list {
		if !all && !c.State.Running() && c.State.Status != container.StatusRestarting && len(f["status"]) == 0 && len(f["exited"]) == 0 {
			continue
		}
		ok, err := container.MatchFilters(c, f, byRef)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		sum := summary(c, now)
		if ln := linkNames[c.ID]; len(ln) > 0 {
			sort.Strings(ln)
			sum.Names = append(sum.Names, ln...)
		}
		if boolQuery(r, "size") {
			sum.SizeRw = dirSize(upperDir(s.c.RootfsPath(c.ID)))
		}
		out = append(out, sum)
		if limit != nil && *limit > 0 && len(out) >= *limit {
			break
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) pruneContainers(w http.ResponseWriter, r *http.Request) error {
	ids, reclaimed, err := s.c.Prune(r.Context())
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	return writeJSON(w, http.StatusOK, mcontainer.PruneReport{ContainersDeleted: ids, SpaceReclaimed: reclaimed})
}

// linkNames renders a container's legacy links as dockerd's inspect does,
// "/child:/parent/alias", with the linked containers' current names (a
// link to a removed container keeps its last name, as in dockerd).
func (s *Server) linkNames(ctx context.Context, c *container.Container) []string {
	var out []string
	for _, l := range c.HostConfig.Links {
		name := l.ChildName
		if child, err := s.c.Get(ctx, l.ChildID); err == nil {
			name = child.Name
		}
		out = append(out, "/"+name+":/"+c.Name+"/"+l.Alias)
	}
	return out
}

// removeLink is DELETE /containers/{parent}/{alias}?link=1 (docker rm
// --link /parent/alias): the link goes, both containers stay. Without
// link=1 such a path names no container.
func (s *Server) removeLink(w http.ResponseWriter, r *http.Request) error {
	parent, alias := r.PathValue("parent"), r.PathValue("alias")
	if !boolQuery(r, "link") {
		return fmt.Errorf("No such container: %s/%s: %w", parent, alias, errdefs.ErrNotFound)
	}
	return noContent(w, s.c.RemoveLink(r.Context(), parent, alias))
}

func (s *Server) removeContainer(w http.ResponseWriter, r *http.Request) error {
	if boolQuery(r, "link") {
		// A name without a parent is the container's own name.
		return fmt.Errorf("Conflict, cannot remove the default link name of the container: %w", errdefs.ErrConflict)
	}
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.c.Remove(r.Context(), c.ID, container.RemoveOptions{Force: boolQuery(r, "force"), RemoveVolumes: boolQuery(r, "v")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
		w.WriteHeader(http.StatusOK)
		fw.Flush()
		headerSent = true
	})
	if err != nil && !headerSent {
		return err
	}
	// dockerd 20.10 always sends "Error", null without one (the wire
	// type's omitempty came later).
	resp := struct {
		Error      *mcontainer.WaitExitError `json:"Error"`
		StatusCode int64
	}{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &mcontainer.WaitExitError{Message: httperr.Message(err)}
	}
	return writeJSONTo(fw, resp)
}

func (s *Server) attachContainer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	keys := r.URL.Query().Get("detachKeys")
	if _, err := container.ParseDetachKeys(keys); err != nil {
		return fmt.Errorf("Invalid detach keys (%s) provided: %w", keys, errdefs.ErrInvalidArgument)
	}
	conn, rw, answer, err := hijack.Take(w, r, c.Config.Tty, "Api-Version: "+APIVersion+"\r\n")
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
		Logs:       boolQuery(r, "logs"),
		NoStream:   !boolQuery(r, "stream"),
		DetachKeys: keys,
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

func (s *Server) top(w http.ResponseWriter, r *http.Request) error {
	titles, procs, err := s.c.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	if procs == nil {
		procs = [][]string{}
	}
	return writeJSON(w, http.StatusOK, mcontainer.TopResponse{Titles: titles, Processes: procs})
}

// orString is s, or def when s is empty.
func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// nilIfEmpty is l, or nil when it holds nothing: dockerd shows an empty
// Env (no -e, an image without ENV) as null, having merged nothing.
func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
