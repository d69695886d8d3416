package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/pkg/cap"

	"github.com/wharf-dev/wharf/errdefs"
)

// allCaps is the keyword that stands for every capability in --cap-add and
// --cap-drop.
const allCaps = "ALL"

// normalizeCaps upper-cases capability names and adds the "CAP_" prefix, as
// Docker accepts both "net_admin" and "CAP_NET_ADMIN". Unknown names are
// rejected here rather than by the runtime at start, where the error would
// be far less clear.
func normalizeCaps(in []string) ([]string, error) {
	known := cap.Known()
	var out []string
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c != allCaps && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if c != allCaps && !slices.Contains(known, c) {
			return nil, fmt.Errorf("%w: unknown capability: %q", errdefs.ErrInvalidArgument, c)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// allCurrentCaps returns the capabilities the daemon itself holds: "all" for
// a container cannot exceed them, and asking the runtime for more fails at
// start (this matters when wharf runs in a container with a reduced set).
func allCurrentCaps() ([]string, error) {
	caps, err := cap.Current()
	if err != nil {
		return nil, fmt.Errorf("read current capabilities: %w", err)
	}
	return caps, nil
}

// tweakCaps applies Docker's --cap-add/--cap-drop rules to base: "ALL" in
// add grants everything except what drop names; "ALL" in drop starts from
// nothing and grants only what add names; otherwise drop is removed from
// base and add appended.
func tweakCaps(base, add, drop []string) ([]string, error) {
	if len(add) == 0 && len(drop) == 0 {
		return slices.Clone(base), nil
	}
	add, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	drop, err = normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(add, allCaps):
		all, err := allCurrentCaps()
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, allCaps):
		caps = add
	default:
		for _, c := range base {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range add {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	if caps == nil {
		// An empty, non-nil list keeps "no capabilities" explicit in the JSON.
		caps = []string{}
	}
	return caps, nil
}
