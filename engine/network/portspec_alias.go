package network

import "github.com/wharf-dev/wharf/engine/network/portspec"

// PortBinding publishes one container port on the host. It is defined,
// with its parsers, in portspec, which the lean CLI links without this
// package's netlink and DNS dependencies.
type PortBinding = portspec.PortBinding
