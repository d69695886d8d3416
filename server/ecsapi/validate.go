package ecsapi

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/cluster/sched"
	"github.com/wharf-dev/wharf/cluster/state"
)

var (
	familyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// parseCPU reads a task-level cpu: CPU units ("1024") or vCPUs ("1 vCPU").
func parseCPU(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if v, ok := strings.CutSuffix(strings.ToLower(s), "vcpu"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0, false
		}
		return int(f * 1024), true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// parseMemory reads a task-level memory: MiB ("512") or GB ("2 GB").
func parseMemory(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if v, ok := strings.CutSuffix(strings.ToLower(s), "gb"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0, false
		}
		return int(f * 1024), true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// Validate checks a task definition as ECS's RegisterTaskDefinition
// does, with ECS's messages, and fills ECS's defaults (networkMode
// bridge, essential true, protocol tcp).
func Validate(td *state.TaskDefinition) error {
	if td.Family == "" {
		return clientErr("Family cannot be blank.")
	}
	if !familyRE.MatchString(td.Family) {
		return clientErr("Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.")
	}
	if len(td.ContainerDefinitions) == 0 {
		return clientErr("Container list cannot be empty.")
	}
	if td.NetworkMode == "" {
		td.NetworkMode = "bridge"
	}
	switch td.NetworkMode {
	case "bridge", "host", "awsvpc", "none":
	default:
		return clientErr("Invalid networkMode: %s. Valid values are bridge, host, awsvpc and none.", td.NetworkMode)
	}
	fargate := false
	for _, c := range td.RequiresCompatibilities {
		switch c {
		case "FARGATE":
			fargate = true
		case "EC2", "EXTERNAL":
		default:
			return clientErr("Invalid requiresCompatibilities: %s. Valid values are EC2, FARGATE and EXTERNAL.", c)
		}
	}
	var taskCPU, taskMem int
	if td.Cpu != "" {
		var ok bool
		if taskCPU, ok = parseCPU(td.Cpu); !ok || taskCPU < 128 || taskCPU > 196608 {
			return clientErr("Invalid 'cpu' setting for task.")
		}
	}
	if td.Memory != "" {
		var ok bool
		if taskMem, ok = parseMemory(td.Memory); !ok || taskMem < 6 {
			return clientErr("Invalid 'memory' setting for task.")
		}
	}
	if fargate {
		if td.NetworkMode != "awsvpc" {
			return clientErr("Fargate only supports network mode 'awsvpc'.")
		}
		if td.Cpu == "" || td.Memory == "" {
			return clientErr("Fargate requires that 'cpu' be defined at the task level.")
		}
		// One table of Fargate's sizes for the API and the scheduler.
		if !sched.FargateSizeValid(int64(taskCPU), int64(taskMem)) {
			return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid combinations.", td.Cpu, td.Memory)
		}
	}
	volumes := map[string]bool{}
	for _, v := range td.Volumes {
		if v.Name == "" || !nameRE.MatchString(v.Name) {
			return clientErr("Invalid volume name: %q.", v.Name)
		}
		if volumes[v.Name] {
			return clientErr("Duplicate volume name: %s.", v.Name)
		}
		if fargate && v.Host != nil && v.Host.SourcePath != "" {
			return clientErr("Fargate compatible task definitions do not support sourcePath.")
		}
		if err := validateVolume(v, fargate); err != nil {
			return err
		}
		volumes[v.Name] = true
	}
	names := map[string]*state.ContainerDefinition{}
	essential := false
	sumCPU := 0
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if c.Name == "" {
			return clientErr("Container.name should not be null or empty.")
		}
		if !nameRE.MatchString(c.Name) {
			return clientErr("Container.name contains invalid characters.")
		}
		if names[c.Name] != nil {
			return clientErr("Duplicate container name: %s.", c.Name)
		}
		names[c.Name] = c
		if c.Image == "" {
			return clientErr("Container.image should not be null or empty.")
		}
		if c.Essential == nil {
			t := true
			c.Essential = &t
		}
		if *c.Essential {
			essential = true
		}
		if c.Cpu < 0 {
			return clientErr("Invalid 'cpu' setting for container '%s'.", c.Name)
		}
		sumCPU += c.Cpu
		if c.Memory != nil && *c.Memory < 6 {
			return clientErr("Invalid setting for container '%s'. The 'memory' setting for container is too low. Minimum is 6 megabytes.", c.Name)
		}
		if c.MemoryReservation != nil && *c.MemoryReservation < 6 {
			return clientErr("Invalid setting for container '%s'. The 'memoryReservation' setting for container is too low. Minimum is 6 megabytes.", c.Name)
		}
		if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
			return clientErr("Invalid setting for container '%s'. The 'memoryReservation' must be less than or equal to 'memory'.", c.Name)
		}
		if td.Memory == "" && c.Memory == nil && c.MemoryReservation == nil {
			return clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
		}
		if taskMem > 0 && c.Memory != nil && *c.Memory > taskMem {
			return clientErr("Invalid setting for container '%s'. The container memory (%d) exceeds the task memory (%d).", c.Name, *c.Memory, taskMem)
		}
		ports := map[string]bool{}
		for j := range c.PortMappings {
			p := &c.PortMappings[j]
			if p.Protocol == "" {
				p.Protocol = "tcp"
			}
			if p.Protocol != "tcp" && p.Protocol != "udp" {
				return clientErr("Invalid protocol %s for container '%s'. Valid values are tcp and udp.", p.Protocol, c.Name)
			}
			if p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
				return clientErr("Invalid port mapping for container '%s': ports must be between 1 and 65535.", c.Name)
			}
			if (td.NetworkMode == "awsvpc" || td.NetworkMode == "host") && p.HostPort != 0 && p.HostPort != p.ContainerPort {
				return clientErr("When networkMode=%s, the host ports must either be undefined or equal to the container port values.", td.NetworkMode)
			}
			if td.NetworkMode == "none" {
				return clientErr("Port mappings are not allowed when networkMode=none.")
			}
			key := strconv.Itoa(p.ContainerPort) + "/" + p.Protocol
			if ports[key] {
				return clientErr("Container '%s' maps container port %s more than once.", c.Name, key)
			}
			ports[key] = true
		}
		for _, e := range c.Environment {
			if e.Name == "" {
				return clientErr("Invalid environment variable for container '%s': the name cannot be empty.", c.Name)
			}
		}
		if err := validateSecrets(c); err != nil {
			return err
		}
		for _, m := range c.MountPoints {
			if !volumes[m.SourceVolume] {
				return clientErr("Invalid 'mountPoints' setting for container '%s'. The sourceVolume '%s' must be defined in the task definition's 'volumes'.", c.Name, m.SourceVolume)
			}
			if !strings.HasPrefix(m.ContainerPath, "/") {
				return clientErr("Invalid 'mountPoints' setting for container '%s'. The containerPath must be an absolute path.", c.Name)
			}
		}
		if hc := c.HealthCheck; hc != nil {
			if len(hc.Command) == 0 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL" && hc.Command[0] != "NONE") {
				return clientErr("Invalid healthCheck for container '%s': the command must start with CMD, CMD-SHELL or NONE.", c.Name)
			}
			if hc.Interval == 0 {
				hc.Interval = 30
			}
			if hc.Timeout == 0 {
				hc.Timeout = 5
			}
			if hc.Retries == 0 {
				hc.Retries = 3
			}
			if hc.Interval < 5 || hc.Interval > 300 || hc.Timeout < 2 || hc.Timeout > 60 || hc.Retries < 1 || hc.Retries > 10 || hc.StartPeriod < 0 || hc.StartPeriod > 300 {
				return clientErr("Invalid healthCheck for container '%s': interval 5-300, timeout 2-60, retries 1-10, startPeriod 0-300 seconds.", c.Name)
			}
		}
		if lc := c.LogConfiguration; lc != nil {
			switch lc.LogDriver {
			case "json-file", "local", "none", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens":
			default:
				return clientErr("Log driver %s is not supported.", lc.LogDriver)
			}
		}
	}
	if !essential {
		return clientErr("A task definition must have at least one essential container.")
	}
	if taskCPU > 0 && sumCPU > taskCPU {
		return clientErr("The sum of the containers' cpu (%d) exceeds the task cpu (%d).", sumCPU, taskCPU)
	}
	for _, c := range td.ContainerDefinitions {
		for _, vf := range c.VolumesFrom {
			if names[vf.SourceContainer] == nil || vf.SourceContainer == c.Name {
				return clientErr("Invalid 'volumesFrom' setting for container '%s': container '%s' is not another container of the task definition.", c.Name, vf.SourceContainer)
			}
		}
		for _, d := range c.DependsOn {
			dep := names[d.ContainerName]
			if dep == nil || d.ContainerName == c.Name {
				return clientErr("Invalid dependsOn for container '%s': container '%s' is not in the task definition.", c.Name, d.ContainerName)
			}
			switch d.Condition {
			case "START", "COMPLETE", "SUCCESS":
			case "HEALTHY":
				if dep.HealthCheck == nil {
					return clientErr("Invalid dependsOn for container '%s': condition HEALTHY needs a healthCheck on container '%s'.", c.Name, d.ContainerName)
				}
			default:
				return clientErr("Invalid dependsOn condition %q for container '%s'. Valid values are START, COMPLETE, SUCCESS and HEALTHY.", d.Condition, c.Name)
			}
		}
	}
	return nil
}
