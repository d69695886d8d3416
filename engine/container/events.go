package container

import (
	"context"
	"strconv"
	"strings"
	"syscall"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
)

// The engine publishes what happens to its containers as dockerd does,
// with the same actions, attributes and order (the order is checked
// against dockerd's in events_test.go):
//
//	create                                  Create
//	attach                                  Attach
//	network connect, volume mount, start    a start (and a policy restart)
//	oom, die, network disconnect,
//	volume unmount                          an exit
//	kill (signal as a number)               Kill, and each signal of Stop
//	stop, restart                           after Stop's and Restart's work
//	pause, unpause, rename, resize, top     those calls
//	exec_create: CMD, exec_start: CMD,
//	exec_die                                an exec's life
//	archive-path, extract-to-dir, export    docker cp and export
//	destroy, prune                          Remove, Prune
//
// A start that fails disconnects what it connected and tells no die, as
// dockerd.

// WithEvents makes the engine publish its events to p.
func WithEvents(p events.Publisher) Option { return func(e *Engine) { e.events = p } }

// containerEvent is a container event with dockerd's attributes: the
// container's labels, its image and its name, then extra.
func containerEvent(c *Container, action string, extra map[string]string) events.Event {
	a := make(map[string]string, len(c.Config.Labels)+len(extra)+2)
	for k, v := range c.Config.Labels {
		a[k] = v
	}
	if c.Config.Image != "" {
		a["image"] = c.Config.Image
	}
	a["name"] = c.Name
	for k, v := range extra {
		a[k] = v
	}
	return events.Event{Type: events.TypeContainer, Action: action, Actor: events.Actor{ID: c.ID, Attributes: a}}
}

// publish tells a container event; c is a snapshot of the record.
func (e *Engine) publish(c *Container, action string, extra map[string]string) {
	e.events.Publish(containerEvent(c, action, extra))
}

// publishOf tells an event of the container of en, from a snapshot of
// its record taken now.
func (e *Engine) publishOf(en *entry, action string, extra map[string]string) {
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	e.publish(c, action, extra)
}

// signalAttr is a signal as dockerd's kill events show it: its number.
func signalAttr(sig syscall.Signal) map[string]string {
	return map[string]string{"signal": strconv.Itoa(int(sig))}
}

// execAction is the action of an exec event with its command, as dockerd
// spells it: the entrypoint, a space, the arguments ("exec_start: sh -c
// true", and "exec_start: true " for a command without arguments).
func execAction(action string, cmd []string) string {
	if len(cmd) == 0 {
		return action + ":  "
	}
	return action + ": " + cmd[0] + " " + strings.Join(cmd[1:], " ")
}

// attachedNetworks are the networks a running container is attached
// to, as network events name them: its bridge networks, or the host or
// none network of those modes (a container sharing another's namespace
// has none of its own).
func (e *Engine) attachedNetworks(ctx context.Context, c *Container) []*network.Network {
	switch e.kindOf(c.HostConfig.NetworkMode) {
	case netEmpty, netHost:
		if e.net == nil {
			return nil
		}
		if n, err := e.net.Inspect(ctx, c.HostConfig.NetworkMode); err == nil {
			return []*network.Network{n}
		}
		return nil
	case netBridge:
		var out []*network.Network
		for _, name := range endpointOrder(c) {
			es := c.NetworkSettings.Networks[name]
			out = append(out, &network.Network{ID: es.NetworkID, Name: name, Driver: network.DriverBridge})
		}
		return out
	}
	return nil
}

// publishNetworks tells a connect or disconnect for each of nets.
func (e *Engine) publishNetworks(c *Container, action string, nets []*network.Network) {
	for _, n := range nets {
		e.events.Publish(events.NetworkEvent(action, n, map[string]string{"container": c.ID}))
	}
}

// publishVolumes tells the mounts of the container's volumes, or their
// unmounts (in the reverse order).
func (e *Engine) publishVolumes(c *Container, mount bool) {
	var vols []MountPoint
	for _, mp := range c.MountPoints {
		if mp.Type == volume.TypeVolume {
			vols = append(vols, mp)
		}
	}
	for i := range vols {
		if mount {
			mp := vols[i]
			e.events.Publish(events.Event{Type: events.TypeVolume, Action: "mount", Actor: events.Actor{ID: mp.Name, Attributes: map[string]string{
				"container": c.ID, "destination": mp.Target, "driver": "local",
				"propagation": mp.Propagation, "read/write": strconv.FormatBool(!mp.ReadOnly),
			}}})
			continue
		}
		mp := vols[len(vols)-1-i]
		e.events.Publish(events.Event{Type: events.TypeVolume, Action: "unmount", Actor: events.Actor{ID: mp.Name, Attributes: map[string]string{
			"container": c.ID, "driver": "local",
		}}})
	}
}
