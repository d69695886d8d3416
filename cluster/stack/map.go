package stack

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/wharf-dev/wharf/cluster/state"
)

// TagStack is the tag that marks a stack's services and task
// definitions (swarm's label).
const TagStack = "com.docker.stack.namespace"

// DefaultMemoryReservation is the memoryReservation (MiB) of a service
// that sets no memory: ECS needs one for placement.
const DefaultMemoryReservation = 64

// Service is one compose service mapped onto ECS.
type Service struct {
	// Name is the ECS service's name and the task definition's family:
	// <stack>_<service>.
	Name         string
	TaskDef      state.TaskDefinition
	DesiredCount int
}

// Mapped is a stack mapped onto ECS.
type Mapped struct {
	Services []Service
	// Warnings name what the file says and the cluster ignores
	// (depends_on between services, which are separate tasks).
	Warnings []string
}

// The keys of a compose service that map; any other key present is
// refused, naming it.
var serviceKeys = map[string]bool{
	"image": true, "command": true, "entrypoint": true, "environment": true, "ports": true, "deploy": true,
	"healthcheck": true, "secrets": true, "volumes": true, "depends_on": true, "working_dir": true, "user": true,
	"hostname": true, "labels": true, "stop_grace_period": true, "read_only": true, "privileged": true,
	"networks": true, "network_mode": true, "mem_limit": true, "mem_reservation": true, "cpus": true, "restart": true,
}

var deployKeys = map[string]bool{"mode": true, "replicas": true, "resources": true, "restart_policy": true}

// present lists the keys of v (marshalled as compose-go marshals it)
// whose values are not empty.
func present(v any) []string {
	data, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	var out []string
	for k, raw := range m {
		switch string(raw) {
		case "null", "[]", "{}", `""`, "false", "0":
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func refuse(format string, a ...any) error {
	return invalid(format+" (wharf stack deploy maps compose services onto ECS services; this does not map)", a...)
}

// Map maps a loaded project onto ECS services, refusing what does not
// map with a message that names the key.
func Map(stack string, p *types.Project) (Mapped, error) {
	var out Mapped
	if len(p.Services) == 0 {
		return out, invalid("the compose file has no services")
	}
	if len(p.Services) > MaxServices {
		return out, invalid("a stack has at most %d services", MaxServices)
	}
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s, warns, err := mapService(stack, p, p.Services[n])
		if err != nil {
			return Mapped{}, err
		}
		out.Services = append(out.Services, s)
		out.Warnings = append(out.Warnings, warns...)
	}
	return out, nil
}

func seconds(d *types.Duration) int {
	if d == nil {
		return 0
	}
	return int(math.Ceil(time.Duration(*d).Seconds()))
}

func mib(b types.UnitBytes) int { return int((int64(b) + 1<<20 - 1) >> 20) }

func mapService(stack string, p *types.Project, sc types.ServiceConfig) (Service, []string, error) {
	key := "services." + sc.Name
	var warns []string
	for _, k := range present(sc) {
		if !serviceKeys[k] {
			return Service{}, nil, refuse("%s.%s is not supported", key, k)
		}
	}
	if strings.Contains(sc.Name, ".") {
		return Service{}, nil, invalid("%s: a service name of letters, digits, '_' and '-' (it names an ECS service)", key)
	}
	if sc.Image == "" {
		return Service{}, nil, invalid("%s.image is required: a cluster runs images (build and push them first)", key)
	}
	name := stack + "_" + sc.Name
	c := state.ContainerDefinition{Name: sc.Name, Image: sc.Image, Command: sc.Command, EntryPoint: sc.Entrypoint,
		WorkingDirectory: sc.WorkingDir, User: sc.User, Hostname: sc.Hostname}
	if len(sc.Labels) > 0 {
		c.DockerLabels = map[string]string{}
		for k, v := range sc.Labels {
			c.DockerLabels[k] = v
		}
	}
	envNames := make([]string, 0, len(sc.Environment))
	for k := range sc.Environment {
		envNames = append(envNames, k)
	}
	sort.Strings(envNames)
	for _, k := range envNames {
		v := sc.Environment[k]
		if v == nil {
			// "environment: [NAME]" takes the client's value, or none.
			val, ok := p.Environment[k]
			if !ok {
				continue
			}
			v = &val
		}
		c.Environment = append(c.Environment, state.KeyValue{Name: k, Value: *v})
	}
	if sc.StopGracePeriod != nil {
		t := seconds(sc.StopGracePeriod)
		c.StopTimeout = &t
	}
	if sc.ReadOnly {
		t := true
		c.ReadonlyRootFS = &t
	}
	if sc.Privileged {
		t := true
		c.Privileged = &t
	}
	td := state.TaskDefinition{Family: name, Tags: []state.Tag{{Key: TagStack, Value: stack}}}
	switch sc.NetworkMode {
	case "", "bridge":
	case "host", "none":
		td.NetworkMode = sc.NetworkMode
	default:
		return Service{}, nil, refuse("%s.network_mode %q is not supported (bridge, host or none)", key, sc.NetworkMode)
	}
	for n := range sc.Networks {
		if n != "default" {
			return Service{}, nil, refuse("%s.networks: %q: services join the cluster's default network only", key, n)
		}
	}
	if sc.Restart != "" && sc.Restart != "always" && sc.Restart != "unless-stopped" {
		return Service{}, nil, refuse("%s.restart %q: a service's tasks are always replaced when they stop", key, sc.Restart)
	}
	for dep := range sc.DependsOn {
		warns = append(warns, fmt.Sprintf("%s.depends_on.%s is ignored: services are separate tasks and start independently", key, dep))
	}
	replicas := 1
	if sc.Scale != nil {
		replicas = *sc.Scale
	}
	cpus, memLimit, memRes := float64(sc.CPUS), sc.MemLimit, sc.MemReservation
	if d := sc.Deploy; d != nil {
		for _, k := range present(d) {
			if !deployKeys[k] {
				return Service{}, nil, refuse("%s.deploy.%s is not supported", key, k)
			}
		}
		if d.Mode != "" && d.Mode != "replicated" {
			return Service{}, nil, refuse("%s.deploy.mode %q: only replicated services", key, d.Mode)
		}
		if d.Replicas != nil {
			replicas = *d.Replicas
		}
		if rp := d.RestartPolicy; rp != nil && rp.Condition != "" && rp.Condition != "any" {
			return Service{}, nil, refuse("%s.deploy.restart_policy.condition %q: a service's tasks are always replaced", key, rp.Condition)
		}
		if l := d.Resources.Limits; l != nil {
			if l.Pids != 0 || len(l.Devices) > 0 || len(l.GenericResources) > 0 {
				return Service{}, nil, refuse("%s.deploy.resources.limits: only cpus and memory", key)
			}
			if l.NanoCPUs != 0 {
				cpus = float64(l.NanoCPUs)
			}
			if l.MemoryBytes != 0 {
				memLimit = l.MemoryBytes
			}
		}
		if r := d.Resources.Reservations; r != nil {
			if r.Pids != 0 || len(r.Devices) > 0 || len(r.GenericResources) > 0 {
				return Service{}, nil, refuse("%s.deploy.resources.reservations: only cpus and memory", key)
			}
			if r.MemoryBytes != 0 {
				memRes = r.MemoryBytes
			}
			if r.NanoCPUs != 0 && cpus == 0 {
				cpus = float64(r.NanoCPUs)
			}
		}
	}
	if replicas < 0 || replicas > 10000 {
		return Service{}, nil, invalid("%s.deploy.replicas %d: 0 to 10000", key, replicas)
	}
	if cpus < 0 {
		return Service{}, nil, invalid("%s: cpus must not be negative", key)
	}
	c.Cpu = int(math.Round(cpus * 1024))
	if memLimit > 0 {
		m := mib(memLimit)
		c.Memory = &m
	}
	if memRes > 0 {
		m := mib(memRes)
		c.MemoryReservation = &m
	}
	if c.Memory == nil && c.MemoryReservation == nil {
		m := DefaultMemoryReservation
		if memLimit > 0 {
			m = min(m, mib(memLimit))
		}
		c.MemoryReservation = &m
	}
	if len(sc.Ports) > MaxPorts {
		return Service{}, nil, invalid("%s.ports: %d port mappings, at most %d", key, len(sc.Ports), MaxPorts)
	}
	for i, pc := range sc.Ports {
		pk := fmt.Sprintf("%s.ports[%d]", key, i)
		if pc.HostIP != "" {
			return Service{}, nil, refuse("%s.host_ip: tasks publish on every address of their node", pk)
		}
		pm := state.PortMapping{ContainerPort: int(pc.Target), Protocol: pc.Protocol, Name: pc.Name}
		if pc.Published != "" {
			hp, err := strconv.Atoi(pc.Published)
			if err != nil || hp < 1 || hp > 65535 {
				return Service{}, nil, refuse("%s.published %q: one port, not a range", pk, pc.Published)
			}
			pm.HostPort = hp
		}
		c.PortMappings = append(c.PortMappings, pm)
	}
	if hc := sc.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 {
		if hc.StartInterval != nil {
			return Service{}, nil, refuse("%s.healthcheck.start_interval is not supported", key)
		}
		h := &state.HealthCheck{Command: hc.Test, Interval: seconds(hc.Interval), Timeout: seconds(hc.Timeout), StartPeriod: seconds(hc.StartPeriod)}
		if hc.Retries != nil {
			if *hc.Retries > 10 {
				return Service{}, nil, refuse("%s.healthcheck.retries %d: ECS takes 1 to 10", key, *hc.Retries)
			}
			h.Retries = int(*hc.Retries)
		}
		if h.Command[0] == "NONE" {
			h = nil
		}
		c.HealthCheck = h
	}
	for i, ss := range sc.Secrets {
		sk := fmt.Sprintf("%s.secrets[%d]", key, i)
		if ss.UID != "" || ss.GID != "" || ss.Mode != nil {
			return Service{}, nil, refuse("%s: uid, gid and mode are not supported (files are root's, 0444)", sk)
		}
		def, ok := p.Secrets[ss.Source]
		if !ok {
			return Service{}, nil, invalid("%s: secret %q is not in the file's top-level secrets", sk, ss.Source)
		}
		if !def.External {
			return Service{}, nil, refuse("secrets.%s: only external secrets, created with `wharf secret create`, are supported (not file, environment or content)", ss.Source)
		}
		ext := def.Name
		if ext == "" {
			ext = ss.Source
		}
		target := ss.Target
		if target == "" {
			target = ss.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		if path.Dir(target) != "/run/secrets" {
			return Service{}, nil, refuse("%s.target %q: secrets are files directly under /run/secrets", sk, ss.Target)
		}
		c.Secrets = append(c.Secrets, state.Secret{Name: target, ValueFrom: ext})
	}
	for i, v := range sc.Volumes {
		vk := fmt.Sprintf("%s.volumes[%d]", key, i)
		if !path.IsAbs(v.Target) {
			return Service{}, nil, invalid("%s.target %q must be an absolute path", vk, v.Target)
		}
		var vol state.Volume
		switch v.Type {
		case types.VolumeTypeBind:
			if !path.IsAbs(v.Source) {
				return Service{}, nil, invalid("%s.source %q: a bind mount's source is an absolute path on the node", vk, v.Source)
			}
			vol = state.Volume{Name: fmt.Sprintf("bind%d", i), Host: &state.VolumeHost{SourcePath: v.Source}}
		case types.VolumeTypeVolume:
			if v.Source == "" {
				vol = state.Volume{Name: fmt.Sprintf("anon%d", i), DockerVolumeConfiguration: &state.DockerVolumeConfiguration{Scope: "task"}}
				break
			}
			tv, ok := p.Volumes[v.Source]
			if !ok {
				return Service{}, nil, invalid("%s: volume %q is not in the file's top-level volumes", vk, v.Source)
			}
			dv := &state.DockerVolumeConfiguration{Scope: "shared", Driver: tv.Driver, DriverOpts: tv.DriverOpts, Labels: tv.Labels}
			if !tv.External {
				t := true
				dv.Autoprovision = &t
			}
			vname := tv.Name
			if vname == "" {
				vname = stack + "_" + v.Source
			}
			vol = state.Volume{Name: vname, DockerVolumeConfiguration: dv}
		default:
			return Service{}, nil, refuse("%s.type %q: bind and volume mounts only", vk, v.Type)
		}
		if !hasVolume(td.Volumes, vol.Name) {
			td.Volumes = append(td.Volumes, vol)
		}
		c.MountPoints = append(c.MountPoints, state.MountPoint{SourceVolume: vol.Name, ContainerPath: v.Target, ReadOnly: v.ReadOnly})
	}
	td.ContainerDefinitions = []state.ContainerDefinition{c}
	return Service{Name: name, TaskDef: td, DesiredCount: replicas}, warns, nil
}

func hasVolume(vs []state.Volume, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}
