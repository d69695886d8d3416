package dockerapi

import (
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/moby/moby/api/types/build"
	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.handle("GET /system/df", s.diskUsage)
	s.handle("GET /events", s.streamEvents)
	s.handle("POST /auth", s.login)
	s.handle("POST /build", s.postBuild)
	s.handle("POST /build/prune", s.buildPrune)
	s.containerRoutes()
	s.execRoutes()
	s.archiveRoutes()
	s.imageRoutes()
	s.networkRoutes()
	s.volumeRoutes()
	s.swarmRoutes()
}

// ping answers what clients negotiate with: the API version, the OS type
// and the builder version (BuildKit is not offered, "1" is the classic
// builder's value).
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Builder-Version", "1")
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *Server) versionResponse() system.VersionResponse {
	v := s.sys.Version()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "wharf"},
		Version:       v.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GitCommit:     v.GitCommit,
		GoVersion:     v.GoVersion,
		Os:            v.Os,
		Arch:          v.Arch,
		KernelVersion: v.KernelVersion,
		Components: []system.ComponentVersion{{
			Name: "Engine", Version: v.Version,
			Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "GoVersion": v.GoVersion, "Os": v.Os, "Arch": v.Arch, "KernelVersion": v.KernelVersion},
		}},
	}
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.versionResponse())
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	wi := s.sys.Info(r.Context())
	hostname, _ := os.Hostname()
	info := system.Info{
		ID:                 wi.ID,
		Containers:         wi.Containers,
		ContainersRunning:  wi.ContainersRunning,
		ContainersPaused:   wi.ContainersPaused,
		ContainersStopped:  wi.ContainersStopped,
		Images:             wi.Images,
		Driver:             "overlay2",
		DriverStatus:       [][2]string{{"Backing Filesystem", "overlayfs snapshots"}},
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"host", "null"}, Log: []string{"json-file", "local"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		PidsLimit:          true,
		NFd:                openFDs(),
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      loggingDriver(wi.LoggingDriver),
		CgroupDriver:       wi.CgroupDriver,
		CgroupVersion:      wi.CgroupVersion,
		NEventsListener:    s.eventListeners(),
		KernelVersion:      wi.KernelVersion,
		OperatingSystem:    wi.OperatingSystem,
		OSType:             "linux",
		Architecture:       archName(),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     &registry.ServiceConfig{IndexConfigs: map[string]*registry.IndexInfo{}},
		NCPU:               wi.NCPU,
		MemTotal:           wi.MemTotal,
		DockerRootDir:      wi.DockerRootDir,
		Name:               hostname,
		Labels:             []string{},
		ServerVersion:      wi.ServerVersion,
		Runtimes:           map[string]system.RuntimeWithStatus{},
		DefaultRuntime:     wi.DefaultRuntime,
		LiveRestoreEnabled: true,
		InitBinary:         "wharf",
		SecurityOptions:    wi.SecurityOptions,
		CDISpecDirs:        []string{},
		Warnings:           []string{},
		// Never part of a swarm (swarm.go).
		Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
	}
	if s.nets != nil {
		info.Plugins.Network = append([]string{"bridge"}, info.Plugins.Network...)
	}
	for _, h := range wi.InsecureRegistries {
		info.RegistryConfig.InsecureRegistryCIDRs = nil
		info.RegistryConfig.IndexConfigs[h] = &registry.IndexInfo{Name: h, Secure: false}
	}
	for name, rt := range wi.Runtimes {
		if rt.Usable {
			info.Runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path}}
		}
	}
	return writeJSON(w, http.StatusOK, info)
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// archName is Docker's spelling of the machine ("x86_64", "aarch64").
func archName() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

// legacyDiskUsage is the shape of GET /system/df before API 1.52, the one
// clients that negotiated 1.44 decode. The Moby API module only carries the
// newer shape, so the envelope is declared here over its item types.
type legacyDiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []mcontainer.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.imageSummaries(r)
	if err != nil {
		return err
	}
	du := legacyDiskUsage{Images: imgs, Containers: []mcontainer.Summary{}, Volumes: s.volumeUsage(r), BuildCache: []build.CacheRecord{}}
	for _, img := range imgs {
		du.LayersSize += img.Size
	}
	now := time.Now()
	for _, c := range s.c.List(r.Context()) {
		sum := summary(c, now)
		sum.SizeRw = dirSize(upperDir(s.c.RootfsPath(c.ID)))
		du.Containers = append(du.Containers, sum)
	}
	return writeJSON(w, http.StatusOK, du)
}

// loggingDriver is the daemon's default log driver as /info shows it.
func loggingDriver(d string) string {
	if d == "" {
		return "json-file"
	}
	return d
}

// eventListeners is the number of /events streams and other API clients'
// subscriptions, as dockerd counts NEventsListener.
func (s *Server) eventListeners() int {
	if s.events == nil {
		return 0
	}
	return s.events.Listeners()
}
