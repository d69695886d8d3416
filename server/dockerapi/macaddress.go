package dockerapi

import (
	"fmt"
	"strings"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
)

// createBody is Docker's create request with the container-wide
// Config.MacAddress, which API 1.44 deprecated in favour of the
// endpoint's MacAddress and the Moby types no longer carry; clients of
// older API versions (and the Docker SDK for Python) still send it.
type createBody struct {
	mcontainer.CreateRequest
	MacAddress string `json:",omitempty"`
}

// migrateMacAddress moves the container-wide MAC address to the endpoint
// of the container's main network, as dockerd does (handleMACAddressBC
// in its container routes): before API 1.44 the endpoints' own MAC
// addresses are ignored and the container-wide one, if any, applies to
// the main network; from 1.44 the container-wide one is deprecated, must
// agree with the endpoint's, and earns a warning.
func migrateMacAddress(req *container.CreateRequest, mac, version string) (warning string, err error) {
	mode := ""
	if req.HostConfig != nil {
		mode = req.HostConfig.NetworkMode
	}
	private := mode != "host" && mode != "none" && !strings.HasPrefix(mode, "container:")
	netName := mode
	if mode == "" || mode == "default" {
		netName = "bridge"
	}
	endpoint := func() (*container.EndpointOptions, error) {
		if len(req.Endpoints) == 0 {
			ep := &container.EndpointOptions{}
			req.Endpoints = map[string]*container.EndpointOptions{netName: ep}
			return ep, nil
		}
		if versionLess(version, "1.44") {
			for _, ep := range req.Endpoints {
				if ep != nil {
					return ep, nil
				}
			}
		}
		ep, ok := req.Endpoints[netName]
		if !ok || ep == nil {
			return nil, fmt.Errorf("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks: %w", errdefs.ErrInvalidArgument)
		}
		return ep, nil
	}
	if versionLess(version, "1.44") {
		if mac == "" {
			for _, ep := range req.Endpoints {
				if ep != nil {
					ep.MacAddress = ""
				}
			}
			return "", nil
		}
		if !private {
			return "", fmt.Errorf("conflicting options: mac-address and the network mode: %w", errdefs.ErrInvalidArgument)
		}
		ep, err := endpoint()
		if err != nil {
			return "", err
		}
		ep.MacAddress = mac
		return "", nil
	}
	if mac == "" {
		return "", nil
	}
	if private {
		ep, err := endpoint()
		if err != nil {
			return "", fmt.Errorf("unable to migrate container-wide MAC address to a specific network: %w", err)
		}
		switch ep.MacAddress {
		case "":
			ep.MacAddress = mac
		case mac:
		default:
			return "", fmt.Errorf("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty: %w", errdefs.ErrInvalidArgument)
		}
	}
	return "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.", nil
}
