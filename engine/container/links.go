package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/errdefs"
)

// Legacy links (docker run --link name:alias) as dockerd keeps them on the
// default bridge network. A link is recorded in the linking container's
// HostConfig.Links by the linked container's ID, so that it follows a
// rename; at each start of the linking container, every linked container
// must be running on the default bridge, and the linking one gets
//
//   - a line "IP alias hostname [name]" per link in its /etc/hosts,
//   - dockerd's variables: ALIAS_NAME=/parent/alias, ALIAS_PORT and
//     ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO] for each exposed port
//     (ranges of contiguous ports also as _START and _END), and
//     ALIAS_ENV_<key> for each variable of the linked container but HOME
//     and PATH (daemon/links/links.go of dockerd 20.10).
//
// When a linked container starts again (with a new address), the hosts
// files of the running containers linking to it are rewritten, as dockerd
// updates them. On a user-defined network a link is no legacy link but a
// DNS name of the endpoint (EndpointOptions.Links), as the docker CLI and
// dockerd make it.

// Link is one legacy link.
type Link struct {
	// ChildID is the linked container; ChildName its name when the link
	// was made, shown once it is gone (dockerd keeps such links).
	ChildID   string
	ChildName string
	Alias     string
}

// Messages of dockerd's runconfig for links in the wrong network mode.
const (
	errHostNetworkAndLinks      = "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
	errContainerNetworkAndLinks = "conflicting options: container type network can't be used with links. This would result in undefined behavior"
)

// resolveLinks turns the links a create asks for into legacy links of the
// default bridge network, or, on a user-defined network, into links of the
// container's endpoint there. It runs after resolveNetworking.
func (e *Engine) resolveLinks(ctx context.Context, o *CreateOptions, ns *NetworkSettings) error {
	if len(o.Links) == 0 {
		return nil
	}
	mode := o.HostConfig.NetworkMode
	switch e.kindOf(mode) {
	case netHost:
		return fmt.Errorf("%s: %w", errHostNetworkAndLinks, errdefs.ErrInvalidArgument)
	case netContainer, netPath:
		return fmt.Errorf("%s: %w", errContainerNetworkAndLinks, errdefs.ErrInvalidArgument)
	case netBridge:
		if es := ns.Networks[mode]; mode != network.NameBridge && es != nil {
			for _, l := range o.Links {
				name, alias, err := network.ParseLink(l)
				if err != nil {
					return err
				}
				es.Links = append(es.Links, name+":"+alias)
			}
			return nil
		}
	}
	for _, l := range o.Links {
		name, alias, err := network.ParseLink(l)
		if err != nil {
			return err
		}
		child, err := e.Get(ctx, name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				// Not a missing image: a client would pull on a 404.
				return fmt.Errorf("could not get container for %s: No such container: %s: %w", name, name, errdefs.ErrInvalidArgument)
			}
			return err
		}
		// A link to a container sharing another's network is a link to
		// that one, as in dockerd.
		for i := 0; i < 16 && strings.HasPrefix(child.HostConfig.NetworkMode, "container:"); i++ {
			if child, err = e.Get(ctx, strings.TrimPrefix(child.HostConfig.NetworkMode, "container:")); err != nil {
				return fmt.Errorf("could not get container for %s: %w", name, err)
			}
		}
		if e.kindOf(child.HostConfig.NetworkMode) == netHost {
			return fmt.Errorf("%s: %w", errHostNetworkAndLinks, errdefs.ErrInvalidArgument)
		}
		o.HostConfig.Links = append(o.HostConfig.Links, Link{ChildID: child.ID, ChildName: child.Name, Alias: alias})
	}
	return nil
}

func (e *Engine) childName(l Link) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.byID[l.ChildID]; ok {
		return en.c.Name
	}
	return l.ChildName
}

// linkedChild is what a container's links give it.
type linkedChild struct {
	hostsLines []string
	env        []string
}

// legacyLinks checks a container's legacy links before it starts and
// returns its hosts lines and variables; a container without an endpoint
// on the default bridge network has none (dockerd ignores them then).
func (e *Engine) legacyLinks(ctx context.Context, c *Container) (linkedChild, error) {
	var out linkedChild
	if _, ok := c.NetworkSettings.Networks[network.NameBridge]; !ok {
		return out, nil
	}
	for _, l := range c.HostConfig.Links {
		lines, env, err := e.resolveLink(ctx, c.Name, l)
		if err != nil {
			return out, err
		}
		out.hostsLines = append(out.hostsLines, lines...)
		out.env = append(out.env, env...)
	}
	return out, nil
}

// resolveLink returns the hosts lines and variables of one link of the
// container named parent.
func (e *Engine) resolveLink(ctx context.Context, parent string, l Link) (lines, env []string, err error) {
	linkName := "/" + parent + "/" + l.Alias
	child, err := e.Get(ctx, l.ChildID)
	if err != nil || child.State.Status != StatusRunning {
		return nil, nil, fmt.Errorf("Cannot link to a non running container: /%s AS %s: %w", e.childName(l), linkName, errdefs.ErrConflict)
	}
	es := child.NetworkSettings.Networks[network.NameBridge]
	if es == nil || es.IPAddress == "" {
		return nil, nil, fmt.Errorf("Cannot link to /%s, as it does not belong to the default network: %w", child.Name, errdefs.ErrInvalidArgument)
	}
	names := l.Alias + " " + child.Config.Hostname
	if l.Alias != child.Name {
		names += " " + child.Name
	}
	for _, ip := range []string{es.IPAddress, es.GlobalIPv6Address} {
		if ip != "" {
			lines = append(lines, ip+"\t"+names)
		}
	}
	ports, err := e.exposedPorts(ctx, child)
	if err != nil {
		return nil, nil, err
	}
	return lines, linkEnv(linkName, es.IPAddress, child.Config.Env, ports), nil
}

// exposedPorts are a container's exposed ports, its image's included (as
// dockerd merges them into the container's config).
func (e *Engine) exposedPorts(ctx context.Context, c *Container) ([]string, error) {
	set := map[string]bool{}
	for p := range c.Config.ExposedPorts {
		set[p] = true
	}
	img, err := e.images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of linked container %.12s: %w", c.ID, err)
	}
	if img.Config != nil {
		for p := range img.Config.Config.ExposedPorts {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	return out, nil
}

// linkPort is one exposed port of a linked container.
type linkPort struct {
	num   int
	proto string
}

// linkEnv renders dockerd's link variables (links.Link.ToEnv).
func linkEnv(linkName, ip string, childEnv, exposed []string) []string {
	alias := strings.ToUpper(linkName[strings.LastIndex(linkName, "/")+1:])
	alias = strings.ReplaceAll(alias, "-", "_")
	var ports []linkPort
	for _, p := range exposed {
		num, proto, _ := strings.Cut(p, "/")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if proto == "" {
			proto = "tcp"
		}
		ports = append(ports, linkPort{n, proto})
	}
	// By number, tcp first for the same number (dockerd's order).
	sort.SliceStable(ports, func(i, j int) bool {
		if ports[i].num != ports[j].num {
			return ports[i].num < ports[j].num
		}
		return ports[i].proto == "tcp" && ports[j].proto != "tcp"
	})
	var env []string
	if len(ports) > 0 {
		p := ports[0]
		env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%d", alias, p.proto, ip, p.num))
	}
	for i := 0; i < len(ports); {
		p := ports[i]
		j := nextContiguous(ports, p.num, i)
		if j > i+1 {
			up := strings.ToUpper(p.proto)
			q := ports[j]
			env = append(env,
				fmt.Sprintf("%s_PORT_%d_%s_START=%s://%s:%d", alias, p.num, up, p.proto, ip, p.num),
				fmt.Sprintf("%s_PORT_%d_%s_ADDR=%s", alias, p.num, up, ip),
				fmt.Sprintf("%s_PORT_%d_%s_PROTO=%s", alias, p.num, up, p.proto),
				fmt.Sprintf("%s_PORT_%d_%s_PORT_START=%d", alias, p.num, up, p.num),
				fmt.Sprintf("%s_PORT_%d_%s_END=%s://%s:%d", alias, p.num, strings.ToUpper(q.proto), q.proto, ip, q.num),
				fmt.Sprintf("%s_PORT_%d_%s_PORT_END=%d", alias, p.num, strings.ToUpper(q.proto), q.num))
			i = j + 1
			continue
		}
		i++
	}
	for _, p := range ports {
		up := strings.ToUpper(p.proto)
		env = append(env,
			fmt.Sprintf("%s_PORT_%d_%s=%s://%s:%d", alias, p.num, up, p.proto, ip, p.num),
			fmt.Sprintf("%s_PORT_%d_%s_ADDR=%s", alias, p.num, up, ip),
			fmt.Sprintf("%s_PORT_%d_%s_PORT=%d", alias, p.num, up, p.num),
			fmt.Sprintf("%s_PORT_%d_%s_PROTO=%s", alias, p.num, up, p.proto))
	}
	env = append(env, fmt.Sprintf("%s_NAME=%s", alias, linkName))
	for _, kv := range childEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		env = append(env, fmt.Sprintf("%s_ENV_%s=%s", alias, k, v))
	}
	return env
}

// nextContiguous is dockerd's: the index of the last port of the run of
// contiguous port numbers that starts at index.
func nextContiguous(ports []linkPort, value, index int) int {
	if index+1 == len(ports) {
		return index
	}
	for i := index + 1; i < len(ports); i++ {
		if ports[i].num > value+1 {
			return i - 1
		}
		value++
	}
	return len(ports) - 1
}

// RemoveLink removes the legacy link alias of the container parent
// (DELETE /containers/parent/alias?link=1). A running container's
// /etc/hosts loses the link's lines at once; its variables stay until it
// restarts.
func (e *Engine) RemoveLink(ctx context.Context, parentRef, alias string) error {
	en, err := e.lookup(parentRef)
	if err != nil {
		return fmt.Errorf("Cannot get parent %s for link name /%s/%s: %w", parentRef, parentRef, alias, errdefs.ErrNotFound)
	}
	found := false
	e.update(en, func(c *Container) {
		kept := c.HostConfig.Links[:0:0]
		for _, l := range c.HostConfig.Links {
			if l.Alias == alias {
				found = true
				continue
			}
			kept = append(kept, l)
		}
		c.HostConfig.Links = kept
	})
	if !found {
		return fmt.Errorf("No such container: %s/%s: %w", parentRef, alias, errdefs.ErrNotFound)
	}
	e.rewriteHosts(ctx, en)
	return nil
}

// updateLinkParents rewrites the /etc/hosts of the running containers that
// link to the container id, after it started (with a new address).
func (e *Engine) updateLinkParents(ctx context.Context, id string) {
	e.mu.Lock()
	var parents []*entry
	for _, en := range e.byID {
		for _, l := range en.c.HostConfig.Links {
			if l.ChildID == id && en.c.State.Running() {
				parents = append(parents, en)
				break
			}
		}
	}
	e.mu.Unlock()
	for _, en := range parents {
		e.rewriteHosts(ctx, en)
	}
}

// rewriteHosts regenerates the /etc/hosts of a running container on the
// default bridge network, with the links as they are now. The file is
// rewritten in place: it is bind-mounted into the container, and the
// daemon's own directory holds it, so the container cannot redirect the
// write.
func (e *Engine) rewriteHosts(ctx context.Context, en *entry) {
	e.mu.Lock()
	c := en.c.clone()
	e.mu.Unlock()
	if !c.State.Running() || c.NetworkSettings.Networks[network.NameBridge] == nil {
		return
	}
	hosts := defaultHosts
	var lines []string
	for _, l := range c.HostConfig.Links {
		// A link whose container stopped or went away loses its lines.
		if one, _, err := e.resolveLink(ctx, c.Name, l); err == nil {
			lines = append(lines, one...)
		}
	}
	own, _ := etcNetwork(c, c.Config.Hostname)
	for _, l := range append(lines, own...) {
		hosts += l + "\n"
	}
	if err := os.WriteFile(filepath.Join(e.dir(c.ID), "hosts"), []byte(hosts), 0o644); err != nil {
		e.log.Warn("updating the hosts file of a linking container", "container", c.ID, "err", err)
	}
}
