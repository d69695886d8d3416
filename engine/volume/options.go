package volume

import (
	"fmt"
	"path/filepath"
	"strings"

	units "github.com/docker/go-units"

	"github.com/wharf-dev/wharf/errdefs"
)

// The local driver's options, as dockerd's: a volume created with type
// and device (and o) is a filesystem mounted on its _data directory the
// first time a container using it starts, and unmounted when the last
// such container stops:
//
//	mount -t <type> -o <o> <device> <root>/volumes/<name>/_data
//
// tmpfs (type=tmpfs device=tmpfs o=size=1m,uid=1000), a bind mount of a
// host path the user names (type=none o=bind device=/srv/data), and any
// other filesystem the kernel offers (/proc/filesystems: ext4 on a block
// device, nfs with o=addr=...) are accepted. The options stay in the
// record and `docker volume inspect` shows them.
//
// Where wharf is stricter than dockerd, for the host's sake:
//   - dockerd passes o to mount(2) as it is; wharf adds nosuid and nodev
//     unless o says suid or dev, so a volume's filesystem cannot bring a
//     setuid binary or a device node to a container by default;
//   - the mount is made private at once, so it propagates to no other
//     mount namespace (dockerd leaves it with the propagation of the
//     volumes directory's mount); o may not ask for shared or slave;
//   - o may not say remount (it would change a mount that exists);
//   - a type the kernel does not offer is refused when the volume is
//     created, not at the first container's start;
//   - size (dockerd's quota on an XFS project) is refused as dockerd
//     refuses it on a filesystem without quota support: wharf has none.

// Option names the local driver accepts.
var validOpts = map[string]bool{"type": true, "o": true, "device": true, "size": true}

// An option needs others beside it (dockerd's mandatoryOpts), checked in
// this order so that the error names the same option dockerd's does for
// the common mistakes.
var mandatoryOpts = []struct {
	opt  string
	need []string
}{{"device", []string{"type"}}, {"o", []string{"device", "type"}}, {"type", []string{"device"}}}

// MountOptions are a volume's options parsed: what mount(2) is given.
type MountOptions struct {
	Type, Device string
	// Flags are the MS_* flags o named; Data the rest of o, passed to the
	// filesystem (size=1m,uid=1000).
	Flags uintptr
	Data  string
	// Bind says o asked for a bind mount (bind or rbind) of Device.
	Bind, Recursive bool
}

// mount(2) flags by the name o gives them, as mount(8) and dockerd's
// parser (moby/sys/mount) read them: set or, with clear, cleared.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, msRdonly},
	"rw":            {true, msRdonly},
	"suid":          {true, msNosuid},
	"nosuid":        {false, msNosuid},
	"dev":           {true, msNodev},
	"nodev":         {false, msNodev},
	"exec":          {true, msNoexec},
	"noexec":        {false, msNoexec},
	"sync":          {false, msSynchronous},
	"async":         {true, msSynchronous},
	"dirsync":       {false, msDirsync},
	"atime":         {true, msNoatime},
	"noatime":       {false, msNoatime},
	"diratime":      {true, msNodiratime},
	"nodiratime":    {false, msNodiratime},
	"relatime":      {false, msRelatime},
	"norelatime":    {true, msRelatime},
	"strictatime":   {false, msStrictatime},
	"nostrictatime": {true, msStrictatime},
	"mand":          {false, msMandlock},
	"nomand":        {true, msMandlock},
}

// ParseOptions checks a local volume's options as dockerd does (its error
// texts) and as this host can serve them, and returns what to mount; nil
// when opts ask for no mount (no options at all).
func ParseOptions(opts map[string]string) (*MountOptions, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	for k := range opts {
		if !validOpts[k] {
			return nil, fmt.Errorf("invalid option: %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		if size > 0 {
			return nil, fmt.Errorf("quota size requested but no quota support: %w", errdefs.ErrInvalidArgument)
		}
	}
	for _, m := range mandatoryOpts {
		if _, ok := opts[m.opt]; !ok {
			continue
		}
		for _, need := range m.need {
			if _, ok := opts[need]; !ok {
				return nil, fmt.Errorf("missing required option: %q: %w", need, errdefs.ErrInvalidArgument)
			}
		}
	}
	mo := &MountOptions{Type: opts["type"], Device: opts["device"]}
	if mo.Type == "" && mo.Device == "" {
		// size=0 alone: nothing to mount.
		return nil, nil
	}
	if mo.Device == "" {
		return nil, fmt.Errorf("missing device in volume options: %w", errdefs.ErrInvalidArgument)
	}
	if strings.ContainsRune(mo.Type, 0) || strings.ContainsRune(mo.Device, 0) || strings.ContainsRune(opts["o"], 0) {
		return nil, fmt.Errorf("volume options must not hold NUL bytes: %w", errdefs.ErrInvalidArgument)
	}
	suid, dev := false, false
	var data []string
	for _, o := range strings.Split(opts["o"], ",") {
		if o == "" {
			continue
		}
		switch o {
		case "bind":
			mo.Bind = true
			continue
		case "rbind":
			mo.Bind, mo.Recursive = true, true
			continue
		case "suid":
			suid = true
		case "dev":
			dev = true
		case "remount":
			return nil, fmt.Errorf("invalid volume mount option %q: a volume's mount is made, not changed: %w", o, errdefs.ErrInvalidArgument)
		case "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
			return nil, fmt.Errorf("invalid volume mount option %q: a volume's mount is always private: %w", o, errdefs.ErrInvalidArgument)
		}
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				mo.Flags &^= f.flag
			} else {
				mo.Flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	if !suid {
		mo.Flags |= msNosuid
	}
	if !dev {
		mo.Flags |= msNodev
	}
	mo.Data = strings.Join(data, ",")
	if mo.Bind {
		if !filepath.IsAbs(mo.Device) {
			return nil, fmt.Errorf("the device of a bind volume must be an absolute host path, not %q: %w", mo.Device, errdefs.ErrInvalidArgument)
		}
		mo.Device = filepath.Clean(mo.Device)
		if mo.Data != "" {
			return nil, fmt.Errorf("a bind volume takes mount flags only, not %q: %w", mo.Data, errdefs.ErrInvalidArgument)
		}
		return mo, nil
	}
	if mo.Type == "" || strings.ContainsAny(mo.Type, " \t\n/") {
		return nil, fmt.Errorf("invalid filesystem type %q: %w", mo.Type, errdefs.ErrInvalidArgument)
	}
	return mo, nil
}
