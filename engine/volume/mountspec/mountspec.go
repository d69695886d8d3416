// Package mountspec parses the mounts a user asks for (docker's -v,
// --mount and --tmpfs) into Mount, the container engine's mount request.
// It imports nothing heavier than go-units: the lean CLI checks flags with
// the very parsers the daemon uses, without linking the volume store.
package mountspec

import (
	"encoding/csv"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/go-units"

	"github.com/wharf-dev/wharf/errdefs"
)

// DriverLocal is the one volume driver.
const DriverLocal = "local"

// Mount types.
const (
	TypeBind   = "bind"
	TypeVolume = "volume"
	TypeTmpfs  = "tmpfs"
)

// Mount is one mount a user asks for, from -v, --mount or --tmpfs.
type Mount struct {
	Type string
	// Source is a host path (bind) or a volume name (volume; empty for an
	// anonymous volume).
	Source   string `json:",omitempty"`
	Target   string
	ReadOnly bool `json:",omitempty"`
	// NoCopy skips the copy-up of image content into an empty volume.
	NoCopy bool `json:",omitempty"`
	// CreateSource makes a missing bind source directory (-v does, --mount
	// refuses).
	CreateSource bool `json:",omitempty"`
	// Propagation of a bind mount ("rprivate" by default).
	Propagation string `json:",omitempty"`
	// Mode is the options field of a -v value as given ("rw", "ro,Z",
	// ...): dockerd shows it verbatim as the mount point's Mode.
	Mode string `json:",omitempty"`
	// TmpfsSize is the size limit in bytes (0: the kernel's default),
	// TmpfsMode the root's mode (0: 1777); TmpfsOptions other mount
	// options (noexec, exec, nosuid, ...).
	TmpfsSize    int64    `json:",omitempty"`
	TmpfsMode    uint32   `json:",omitempty"`
	TmpfsOptions []string `json:",omitempty"`
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidName reports whether s can name a volume (as in docker: two or
// more of [a-zA-Z0-9_.-], starting with a letter or digit).
func ValidName(s string) bool { return validName.MatchString(s) }

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

func checkTarget(t string) (string, error) {
	if t == "" {
		return "", invalid("invalid mount config: target is required")
	}
	if !path.IsAbs(t) {
		return "", invalid("invalid mount path: '%s' mount path must be absolute", t)
	}
	t = path.Clean(t)
	if t == "/" {
		return "", invalid("invalid specification: destination can't be '/'")
	}
	return t, nil
}

var propagations = map[string]bool{"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true}

// ParseVolumeSpec parses one -v value: "/ctr" (an anonymous volume),
// "name:/ctr[:opts]" or "/host:/ctr[:opts]", opts a comma list of ro, rw,
// nocopy, z, Z and a propagation mode.
func ParseVolumeSpec(spec string) (Mount, error) {
	parts := strings.Split(spec, ":")
	var m Mount
	switch len(parts) {
	case 1:
		m = Mount{Type: TypeVolume, Target: parts[0]}
	case 2, 3:
		if parts[0] == "" {
			return Mount{}, invalid("invalid volume specification: '%s'", spec)
		}
		m = Mount{Source: parts[0], Target: parts[1]}
		if len(parts) == 3 {
			m.Mode = parts[2]
			for _, o := range strings.Split(parts[2], ",") {
				switch {
				case o == "ro":
					m.ReadOnly = true
				case o == "rw":
					m.ReadOnly = false
				case o == "nocopy":
					m.NoCopy = true
				case o == "z" || o == "Z":
				case propagations[o]:
					m.Propagation = o
				default:
					return Mount{}, invalid("invalid mode: %s", o)
				}
			}
		}
		if strings.HasPrefix(m.Source, "/") {
			m.Type, m.CreateSource = TypeBind, true
			m.Source = path.Clean(m.Source)
			if m.NoCopy {
				return Mount{}, invalid("invalid mode: nocopy applies to volumes only")
			}
		} else {
			if !ValidName(m.Source) {
				return Mount{}, invalid("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", m.Source)
			}
			m.Type = TypeVolume
			if m.Propagation != "" {
				return Mount{}, invalid("invalid mode: propagation applies to bind mounts only")
			}
		}
	default:
		return Mount{}, invalid("invalid volume specification: '%s'", spec)
	}
	t, err := checkTarget(m.Target)
	if err != nil {
		return Mount{}, err
	}
	m.Target = t
	return m, nil
}

func parseBool(k, v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	switch strings.ToLower(v) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, invalid("invalid value for %s: %s", k, v)
}

// ParseMountSpec parses one --mount value, docker's CSV of key=value:
// type=bind|volume|tmpfs, source|src, target|destination|dst,
// readonly|ro[=bool], volume-nocopy, bind-propagation, tmpfs-size,
// tmpfs-mode.
func ParseMountSpec(spec string) (Mount, error) {
	r := csv.NewReader(strings.NewReader(spec))
	fields, err := r.Read()
	if err != nil {
		return Mount{}, invalid("invalid --mount %q: %v", spec, err)
	}
	m := Mount{Type: TypeVolume}
	for _, f := range fields {
		k, v, hasV := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "type":
			m.Type = v
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			if m.ReadOnly, err = parseBool(k, v); err != nil {
				return Mount{}, err
			}
		case "volume-nocopy":
			if m.NoCopy, err = parseBool(k, v); err != nil {
				return Mount{}, err
			}
		case "bind-propagation":
			if !propagations[v] {
				return Mount{}, invalid("invalid bind-propagation: %s", v)
			}
			m.Propagation = v
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return Mount{}, invalid("invalid tmpfs-size: %s", v)
			}
			m.TmpfsSize = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				return Mount{}, invalid("invalid tmpfs-mode: %s", v)
			}
			m.TmpfsMode = uint32(n)
		case "volume-driver":
			if v != DriverLocal {
				return Mount{}, invalid("volume driver %q is not supported", v)
			}
		default:
			if !hasV && k != "" {
				return Mount{}, invalid("invalid field '%s' must be a key=value pair", f)
			}
			return Mount{}, invalid("unexpected key '%s' in '%s'", k, f)
		}
	}
	if err := m.Validate(); err != nil {
		return Mount{}, err
	}
	return m, nil
}

// Validate checks a mount from --mount or the API and cleans its paths.
func (m *Mount) Validate() error {
	switch m.Type {
	case TypeBind:
		if m.Source == "" {
			return invalid("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if !path.IsAbs(m.Source) {
			return invalid("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		m.Source = path.Clean(m.Source)
		if m.NoCopy || m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			return invalid("invalid mount config for type \"bind\": volume or tmpfs options given")
		}
		if m.Propagation != "" && !propagations[m.Propagation] {
			return invalid("invalid bind-propagation: %s", m.Propagation)
		}
	case TypeVolume:
		if m.Source != "" && !ValidName(m.Source) {
			return invalid("invalid mount config for type \"volume\": invalid volume name %q", m.Source)
		}
		if m.Propagation != "" || m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			return invalid("invalid mount config for type \"volume\": bind or tmpfs options given")
		}
	case TypeTmpfs:
		if m.Source != "" {
			return invalid("invalid mount config for type \"tmpfs\": field Source must be empty")
		}
		if m.Propagation != "" || m.NoCopy {
			return invalid("invalid mount config for type \"tmpfs\": bind or volume options given")
		}
		if m.TmpfsSize < 0 || m.TmpfsMode > 0o7777 {
			return invalid("invalid mount config for type \"tmpfs\": bad size or mode")
		}
	default:
		// dockerd's wording (volume/mounts.errMountConfig).
		return invalid("invalid mount config for type %q: mount type unknown", m.Type)
	}
	t, err := checkTarget(m.Target)
	if err != nil {
		return err
	}
	m.Target = t
	return nil
}

// ParseTmpfs parses one --tmpfs value, "/path[:opts]" with opts a comma
// list of mount options, of which size= and mode= are understood and the
// rest passed to the mount.
func ParseTmpfs(spec string) (Mount, error) {
	target, opts, _ := strings.Cut(spec, ":")
	m := Mount{Type: TypeTmpfs}
	t, err := checkTarget(target)
	if err != nil {
		return Mount{}, err
	}
	m.Target = t
	if opts == "" {
		return m, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return Mount{}, invalid("invalid tmpfs size: %s", v)
			}
			m.TmpfsSize = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				return Mount{}, invalid("invalid tmpfs mode: %s", v)
			}
			m.TmpfsMode = uint32(n)
		case "ro":
			m.ReadOnly = true
		case "rw":
		case "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime", "relatime", "strictatime", "diratime", "nodiratime", "sync", "async", "dirsync":
			m.TmpfsOptions = append(m.TmpfsOptions, k)
		case "uid", "gid", "nr_inodes":
			if _, err := strconv.ParseUint(v, 10, 32); err != nil {
				return Mount{}, invalid("invalid tmpfs option %s", o)
			}
			m.TmpfsOptions = append(m.TmpfsOptions, o)
		default:
			return Mount{}, invalid("invalid tmpfs option %q", o)
		}
	}
	return m, nil
}
