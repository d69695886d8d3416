package container

import (
	"fmt"
	"sort"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/engine/volume/mountspec"
	"github.com/wharf-dev/wharf/errdefs"
)

// CreateRequest is a create request as the API servers receive it, before
// any decision is made on it: the Docker API's wire type (the Moby API's
// container.CreateRequest) and the native one (api/wharf.CreateRequest)
// carry the same fields in different Go types, and each server copies its
// own into a CreateRequest field by field, deciding nothing. Options then
// makes every decision once, for both APIs: defaults, the parsing of port
// bindings and mounts, the normalisation of network names. Create
// validates the result (restart policy, resources, security options, log
// configuration), so that the two APIs answer one request with the same
// container or the same error, as dockerd would.
type CreateRequest struct {
	// Name is the name query parameter, "" for a generated one.
	Name string
	// Config is the portable configuration as sent; Options derives
	// EntrypointSet from a non-nil Entrypoint.
	Config Config
	// HostConfig is nil when the request carried none.
	HostConfig *HostConfigRequest
	// Endpoints are the networking config's endpoint settings by network
	// name; a nil entry is refused, as dockerd does.
	Endpoints map[string]*EndpointOptions
}

// HostConfigRequest is the host configuration of a CreateRequest: the
// fields of Docker's HostConfig that wharf implements, with the values
// whose meaning Options decides kept in their wire form.
type HostConfigRequest struct {
	// NetworkMode "" and "default" both mean the default network.
	NetworkMode    string
	RestartPolicy  RestartPolicy
	AutoRemove     bool
	CapAdd         []string
	CapDrop        []string
	Privileged     bool
	ReadonlyRootfs bool
	SecurityOpt    []string
	Init           *bool
	Runtime        string
	Memory         int64
	MemorySwap     int64
	NanoCPUs       int64
	CPUShares      int64
	PidsLimit      *int64
	// The rest of the cgroup limits.
	MemoryReservation      int64
	CPUPeriod, CPUQuota    int64
	CpusetCpus, CpusetMems string
	BlkioWeight            uint16
	Ulimits                []Ulimit
	// PortBindings maps a container port ("80/tcp", "80") to its host
	// sides (-p). An empty list asks for one binding to a random port, as
	// dockerd does for API versions before 1.53.
	PortBindings    map[string][]PortBindingRequest
	PublishAllPorts bool
	// Binds are -v values, Mounts --mount values (not yet validated), and
	// Tmpfs maps a target to its --tmpfs options.
	Binds       []string
	Mounts      []volume.Mount
	Tmpfs       map[string]string
	VolumesFrom []string
	LogConfig   LogConfig
	// Links are --link values, "name[:alias]".
	Links []string
	HostOptions
}

// PortBindingRequest is one host side of a published port as sent: an
// address ("" for every address) and a port, a range ("8000-8010") or ""
// for a random one.
type PortBindingRequest struct {
	HostIP   string
	HostPort string
}

// Options translates the request into the options Create takes. Errors
// carry errdefs.ErrInvalidArgument.
func (r *CreateRequest) Options() (CreateOptions, error) {
	o := CreateOptions{Name: r.Name, Config: r.Config}
	o.Config.EntrypointSet = r.Config.EntrypointSet || r.Config.Entrypoint != nil
	defaultNetwork := true
	if h := r.HostConfig; h != nil {
		hc, err := h.hostConfig()
		if err != nil {
			return o, err
		}
		o.HostConfig = hc
		o.Links = h.Links
		defaultNetwork = hc.NetworkMode == ""
	}
	if len(r.Endpoints) > 0 {
		o.Endpoints = make(map[string]EndpointOptions, len(r.Endpoints))
		for name, ep := range r.Endpoints {
			if ep == nil {
				return o, fmt.Errorf("invalid config for network %s: EndpointsConfig is nil: %w", name, errdefs.ErrInvalidArgument)
			}
			// "default" names the default network in an OS-independent
			// way (the docker CLI sends it with --ip and no --network);
			// dockerd moves its settings to the network it stands for.
			if name == "default" && defaultNetwork {
				name = network.NameBridge
			}
			o.Endpoints[name] = *ep
		}
	}
	return o, nil
}

func (h *HostConfigRequest) hostConfig() (HostConfig, error) {
	hc := HostConfig{
		NetworkMode:    h.NetworkMode,
		RestartPolicy:  h.RestartPolicy,
		AutoRemove:     h.AutoRemove,
		CapAdd:         h.CapAdd,
		CapDrop:        h.CapDrop,
		Privileged:     h.Privileged,
		ReadonlyRootfs: h.ReadonlyRootfs,
		SecurityOpt:    h.SecurityOpt,
		Init:           h.Init != nil && *h.Init,
		Runtime:        h.Runtime,
		Memory:         h.Memory,
		MemorySwap:     h.MemorySwap,
		NanoCPUs:       h.NanoCPUs,
		CPUShares:      h.CPUShares,
		Ulimits:        h.Ulimits,

		MemoryReservation: h.MemoryReservation,
		CPUPeriod:         h.CPUPeriod,
		CPUQuota:          h.CPUQuota,
		CpusetCpus:        h.CpusetCpus,
		CpusetMems:        h.CpusetMems,
		BlkioWeight:       h.BlkioWeight,
		PublishAllPorts:   h.PublishAllPorts,
		VolumesFrom:       h.VolumesFrom,
		LogConfig:         h.LogConfig,
		Tmpfs:             h.Tmpfs,
		HostOptions:       h.HostOptions,
	}
	if hc.NetworkMode == "default" {
		hc.NetworkMode = ""
	}
	if h.PidsLimit != nil {
		hc.PidsLimit = *h.PidsLimit
	}
	var err error
	if hc.PortBindings, err = portBindings(h.PortBindings); err != nil {
		return hc, err
	}
	if hc.Mounts, err = requestedMounts(h); err != nil {
		return hc, err
	}
	return hc, nil
}

// portBindings parses the wire port map, in the order of its keys so that
// a container's record does not depend on map iteration.
func portBindings(pm map[string][]PortBindingRequest) ([]network.PortBinding, error) {
	keys := make([]string, 0, len(pm))
	for k := range pm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []network.PortBinding
	for _, k := range keys {
		bs := pm[k]
		if len(bs) == 0 {
			bs = []PortBindingRequest{{}}
		}
		for _, b := range bs {
			pb, err := portspec.ParseWireBinding(k, b.HostIP, b.HostPort)
			if err != nil {
				return nil, err
			}
			out = append(out, pb...)
		}
	}
	return out, nil
}

// requestedMounts parses -v, validates --mount and parses --tmpfs values,
// in that order (tmpfs targets sorted).
func requestedMounts(h *HostConfigRequest) ([]volume.Mount, error) {
	var out []volume.Mount
	for _, b := range h.Binds {
		m, err := mountspec.ParseVolumeSpec(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, m := range h.Mounts {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	targets := make([]string, 0, len(h.Tmpfs))
	for t := range h.Tmpfs {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		spec := t
		if o := h.Tmpfs[t]; o != "" {
			spec += ":" + o
		}
		m, err := mountspec.ParseTmpfs(spec)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
