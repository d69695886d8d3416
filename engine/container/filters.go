package container

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
)

// ValidateFilters refuses, before any container is looked at, the values
// dockerd refuses up front: a status or health no container can have, an
// exited code that is no number.
func ValidateFilters(f map[string][]string) error {
	for _, v := range f["status"] {
		switch v {
		case StatusCreated, StatusRunning, StatusPaused, StatusRestarting, StatusRemoving, StatusExited, StatusDead:
		default:
			return fmt.Errorf("Invalid filter 'status=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range f["health"] {
		switch v {
		case HealthNone, HealthStarting, HealthHealthy, HealthUnhealthy:
		default:
			return fmt.Errorf("Unrecognised filter value for health: %s: %w", v, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range f["exited"] {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("invalid filter 'exited=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// MatchFilters applies docker's ps filters to c: values of one key are
// ORed, keys are ANDed, and label values are ANDed too (compose selects a
// project's service by two labels). byRef resolves the containers that
// before= and since= name. Both API servers list containers with it.
func MatchFilters(c *Container, f map[string][]string, byRef func(string) *Container) (bool, error) {
	for key, vals := range f {
		if len(vals) == 0 {
			continue
		}
		if key == "label" {
			for _, l := range vals {
				k, v, withValue := strings.Cut(l, "=")
				got, ok := c.Config.Labels[k]
				if !ok || withValue && got != v {
					return false, nil
				}
			}
			continue
		}
		hit := false
		for _, v := range vals {
			var m bool
			switch key {
			case "id":
				m = strings.HasPrefix(c.ID, v)
			case "name":
				m = matchName(v, "/"+c.Name) || matchName(v, c.Name)
			case "status":
				m = c.State.Status == v
			case "ancestor":
				m = sameReference(c.Config.Image, v) || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), strings.TrimPrefix(v, "sha256:"))
			case "exited":
				n, err := strconv.Atoi(v)
				if err != nil {
					return false, fmt.Errorf("invalid filter 'exited=%s': %w", v, errdefs.ErrInvalidArgument)
				}
				m = c.State.Status == StatusExited && c.State.ExitCode == n
			case "before", "since":
				o := byRef(v)
				if o == nil {
					return false, fmt.Errorf("No such container: %s: %w", v, errdefs.ErrNotFound)
				}
				if key == "before" {
					m = c.Created.Before(o.Created)
				} else {
					m = c.Created.After(o.Created)
				}
			case "network":
				m = c.HostConfig.NetworkMode == v || (c.HostConfig.NetworkMode == "" || c.HostConfig.NetworkMode == "default") && v == "bridge"
				for name, ep := range c.NetworkSettings.Networks {
					m = m || name == v || (ep != nil && ep.NetworkID != "" && strings.HasPrefix(ep.NetworkID, v))
				}
			case "isolation":
				m = v == "default"
			case "health":
				switch v {
				case HealthNone, HealthStarting, HealthHealthy, HealthUnhealthy:
				default:
					return false, fmt.Errorf("Unrecognised filter value for health: %s: %w", v, errdefs.ErrInvalidArgument)
				}
				m = c.State.HealthStatus() == v
			case "is-task":
				m = v == "false"
			case "volume":
				for _, mp := range c.MountPoints {
					m = m || mp.Name == v || mp.Target == v || mp.Source == v
				}
			case "expose", "publish":
				m = false
			default:
				return false, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
			}
			if m {
				hit = true
				break
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

// matchName is dockerd's filters.Args.Match for one value: the name
// itself, or a regular expression found in the name ("web" matches
// "/myweb", "^/web$" only "/web"). dockerd tries the name with its
// leading slash and without; a value that is no regular expression
// matches only exactly.
func matchName(v, name string) bool {
	if v == name {
		return true
	}
	re, err := regexp.Compile(v)
	return err == nil && re.MatchString(name)
}

// sameReference reports whether two image references name the same image
// reference once normalised as dockerd does ("busybox",
// "busybox:latest" and "docker.io/library/busybox" are one); strings that
// are no references (IDs) compare as they are.
func sameReference(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := reference.Parse(a)
	rb, errB := reference.Parse(b)
	return errA == nil && errB == nil && reference.Familiar(ra) == reference.Familiar(rb)
}
