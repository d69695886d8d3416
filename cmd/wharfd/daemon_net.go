package main

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/network/portproxy"
	"github.com/wharf-dev/wharf/engine/volume"
)

// netDaemonConfig holds the daemon's network and volume flags.
type netDaemonConfig struct {
	bridgeName, bridgeSubnet string
	ipMasq                   bool
}

func addNetDaemonFlags(f *pflag.FlagSet, c *netDaemonConfig) {
	f.StringVar(&c.bridgeName, "bridge-name", network.DefaultBridgeName, "Linux bridge of the default \"bridge\" network")
	f.StringVar(&c.bridgeSubnet, "bridge-subnet", network.DefaultBridgeSubnet, "IPv4 subnet of the default \"bridge\" network")
	f.BoolVar(&c.ipMasq, "ip-masq", false, "masquerade containers' outbound traffic (nftables) and turn on IPv4 forwarding")
}

// setupNetworksAndVolumes opens the network driver and the volume store
// and returns the engine options that hand them to the container engine.
func (d *daemon) setupNetworksAndVolumes(log *slog.Logger) ([]container.Option, error) {
	c := d.cfg.netCfg
	sub, err := netip.ParsePrefix(c.bridgeSubnet)
	if err != nil {
		return nil, fmt.Errorf("--bridge-subnet %q: %w", c.bridgeSubnet, err)
	}
	d.networks, err = network.New(d.cfg.root, d.cfg.execRoot,
		network.WithLogger(log), network.WithDefaultBridge(c.bridgeName, sub), network.WithMasquerade(c.ipMasq),
		network.WithPublisher(portproxy.New(log)))
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	d.volumes, err = volume.New(d.cfg.root, volume.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	d.pubNets = events.PublishNetworks(d.networks, d.events)
	d.pubVols = events.PublishVolumes(d.volumes, d.events)
	return []container.Option{container.WithNetworks(d.networks), container.WithVolumes(d.pubVols)}, nil
}
