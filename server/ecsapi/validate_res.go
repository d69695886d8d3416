package ecsapi

import (
	"path"
	"regexp"
	"strings"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/state"
)

// envNameRE is what a secret delivered as an environment variable may be
// named.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)

// SecretFileDir is where a secret named by a path is delivered (a tmpfs,
// as swarm's /run/secrets).
const SecretFileDir = "/run/secrets/"

// validateSecrets checks a container's secrets: an environment variable
// name or a file under /run/secrets, and a valueFrom naming a secret
// (its name, a secretsmanager ARN or an ssm parameter ARN).
func validateSecrets(c *state.ContainerDefinition) error {
	seen := map[string]bool{}
	for _, s := range c.Secrets {
		if s.Name == "" || s.ValueFrom == "" {
			return clientErr("Invalid secret for container '%s': name and valueFrom are required.", c.Name)
		}
		if file, ok := strings.CutPrefix(s.Name, SecretFileDir); ok {
			if !secrets.ValidName(file) || path.Base(file) != file {
				return clientErr("Invalid secret for container '%s': %s is not a file name under %s.", c.Name, s.Name, SecretFileDir)
			}
		} else if !envNameRE.MatchString(s.Name) {
			return clientErr("Invalid secret for container '%s': %q is not an environment variable name (or a file under %s).", c.Name, s.Name, SecretFileDir)
		}
		if seen[s.Name] {
			return clientErr("Invalid secret for container '%s': %s is set twice.", c.Name, s.Name)
		}
		seen[s.Name] = true
		if _, err := secrets.Ref(s.ValueFrom); err != nil {
			return clientErr("Invalid secret for container '%s': %s", c.Name, err.Error())
		}
	}
	return nil
}

// validateVolume checks a task volume as ECS does: a host path or a
// docker volume, not both; the docker volume's scope, driver and
// autoprovision.
func validateVolume(v state.Volume, fargate bool) error {
	dv := v.DockerVolumeConfiguration
	if v.Host != nil && v.Host.SourcePath != "" {
		if dv != nil {
			return clientErr("Volume '%s' sets both host and dockerVolumeConfiguration.", v.Name)
		}
		if !path.IsAbs(v.Host.SourcePath) {
			return clientErr("Invalid 'sourcePath' for volume '%s': the path must be absolute.", v.Name)
		}
	}
	if dv == nil {
		return nil
	}
	if fargate {
		return clientErr("Fargate compatible task definitions do not support dockerVolumeConfiguration.")
	}
	switch dv.Scope {
	case "", "task", "shared":
	default:
		return clientErr("Invalid scope value '%s' for volume '%s'. Valid values are task and shared.", dv.Scope, v.Name)
	}
	if dv.Autoprovision != nil && *dv.Autoprovision && dv.Scope != "shared" {
		return clientErr("Invalid dockerVolumeConfiguration for volume '%s': autoprovision is only supported when scope is shared.", v.Name)
	}
	if dv.Driver != "" && dv.Driver != "local" {
		return clientErr("Invalid dockerVolumeConfiguration for volume '%s': driver '%s' is not available; wharf has the local driver only.", v.Name, dv.Driver)
	}
	return nil
}
