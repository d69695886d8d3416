package events

import (
	"context"
	"io"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/image/reference"
	"github.com/wharf-dev/wharf/image/store"
)

// The stores below publish their changes as dockerd does: each wraps the
// store (every other method is the store's own) and publishes once a
// change succeeded, with dockerd's actor IDs and attributes. The daemon
// hands the wrapped stores to the APIs and to the container engine, so
// that a change made through either API, or by the engine (a volume made
// for a container), is published once.

// Images is an image store that publishes image events.
type Images struct {
	*store.Store
	p Publisher
}

// PublishImages wraps s.
func PublishImages(s *store.Store, p Publisher) *Images { return &Images{Store: s, p: p} }

func (i *Images) image(action, id, name string) {
	i.p.Publish(Event{Type: TypeImage, Action: action, Actor: Actor{ID: id, Attributes: map[string]string{"name": name}}})
}

// refEvent publishes a pull or push: dockerd names the actor by the
// familiar reference and the repository.
func (i *Images) refEvent(action, ref string) {
	r, err := reference.Parse(ref)
	if err != nil {
		i.image(action, ref, ref)
		return
	}
	i.image(action, reference.Familiar(r), reference.FamiliarName(r.Context()))
}

// Pull implements the store's Pull.
func (i *Images) Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error) {
	img, err := i.Store.Pull(ctx, ref, progress)
	if err == nil {
		i.refEvent("pull", ref)
	}
	return img, err
}

// Push implements the store's Push.
func (i *Images) Push(ctx context.Context, ref string, progress func(store.Progress)) (store.Pushed, error) {
	pushed, err := i.Store.Push(ctx, ref, progress)
	if err == nil {
		i.refEvent("push", ref)
	}
	return pushed, err
}

// Tag implements the store's Tag.
func (i *Images) Tag(ctx context.Context, src, target string) error {
	if err := i.Store.Tag(ctx, src, target); err != nil {
		return err
	}
	if img, err := i.Store.Get(ctx, target); err == nil {
		i.image("tag", img.ID, familiar(target))
	}
	return nil
}

func familiar(ref string) string {
	if r, err := reference.Parse(ref); err == nil {
		return reference.Familiar(r)
	}
	return ref
}

// Import implements the store's Import: the new name is tagged first,
// then the import is told, as dockerd tells them.
func (i *Images) Import(ctx context.Context, r io.Reader, ref string, cfg *v1.Config, opts ...store.ImportOption) (*store.Image, error) {
	img, err := i.Store.Import(ctx, r, ref, cfg, opts...)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		i.image("tag", img.ID, familiar(ref))
	}
	i.image("import", img.ID, img.ID)
	return img, nil
}

// Load implements the store's Load.
func (i *Images) Load(ctx context.Context, r io.Reader) ([]*store.Image, error) {
	imgs, err := i.Store.Load(ctx, r)
	for _, img := range imgs {
		i.image("load", img.ID, img.ID)
	}
	return imgs, err
}

// Save implements the store's Save.
func (i *Images) Save(ctx context.Context, w io.Writer, refs []string, format string) error {
	var ids []string
	seen := map[string]bool{}
	for _, ref := range refs {
		if img, err := i.Store.Get(ctx, ref); err == nil && !seen[img.ID] {
			seen[img.ID] = true
			ids = append(ids, img.ID)
		}
	}
	if err := i.Store.Save(ctx, w, refs, format); err != nil {
		return err
	}
	for _, id := range ids {
		i.image("save", id, id)
	}
	return nil
}

// Remove implements the store's Remove: an untag for each reference that
// went and a delete for the image, both with the image ID as the actor's
// name, as dockerd has them.
func (i *Images) Remove(ctx context.Context, refOrID string, force bool, inUse func(string) bool) ([]store.Deleted, error) {
	img, gerr := i.Store.Get(ctx, refOrID)
	out, err := i.Store.Remove(ctx, refOrID, force, inUse)
	if gerr == nil {
		i.deleted(out, map[string]string{}, map[string]bool{img.ID: true}, img.ID)
	}
	return out, err
}

// deleted publishes the untags and deletes of a removal: owner maps a
// reference to its image's ID, images are the IDs that are images (the
// rest of the deleted IDs are layers), def is the image of a reference
// owner does not know.
func (i *Images) deleted(out []store.Deleted, owner map[string]string, images map[string]bool, def string) {
	for _, d := range out {
		switch {
		case d.Untagged != "":
			id := owner[d.Untagged]
			if id == "" {
				id = def
			}
			if id != "" {
				i.image("untag", id, id)
			}
		case images[d.Deleted]:
			i.image("delete", d.Deleted, d.Deleted)
		}
	}
}

// Prune implements the store's Prune.
func (i *Images) Prune(ctx context.Context, all bool, inUse func(string) bool) ([]store.Deleted, uint64, error) {
	owner, images := map[string]string{}, map[string]bool{}
	if list, err := i.Store.List(ctx); err == nil {
		for _, img := range list {
			images[img.ID] = true
			for _, r := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
				owner[r] = img.ID
			}
		}
	}
	out, freed, err := i.Store.Prune(ctx, all, inUse)
	i.deleted(out, owner, images, "")
	if err == nil {
		i.p.Publish(Event{Type: TypeImage, Action: "prune", Actor: Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(freed, 10)}}})
	}
	return out, freed, err
}

// Networks is a network manager that publishes network events. The
// container engine publishes connect and disconnect, which it drives.
type Networks struct {
	*network.Manager
	p Publisher
}

// PublishNetworks wraps m.
func PublishNetworks(m *network.Manager, p Publisher) *Networks { return &Networks{Manager: m, p: p} }

// NetworkEvent is a network event with dockerd's attributes (name and
// type) and extra ones.
func NetworkEvent(action string, n *network.Network, extra map[string]string) Event {
	a := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		a[k] = v
	}
	return Event{Type: TypeNetwork, Action: action, Actor: Actor{ID: n.ID, Attributes: a}}
}

// Create implements the manager's Create.
func (n *Networks) Create(ctx context.Context, o network.CreateOptions) (*network.Network, error) {
	nw, err := n.Manager.Create(ctx, o)
	if err == nil {
		n.p.Publish(NetworkEvent("create", nw, nil))
	}
	return nw, err
}

// Remove implements the manager's Remove.
func (n *Networks) Remove(ctx context.Context, ref string) error {
	nw, gerr := n.Manager.Inspect(ctx, ref)
	err := n.Manager.Remove(ctx, ref)
	if err == nil && gerr == nil {
		n.p.Publish(NetworkEvent("destroy", nw, nil))
	}
	return err
}

// Prune implements the manager's Prune.
func (n *Networks) Prune(ctx context.Context, inUse func(*network.Network) bool) ([]string, error) {
	byName := map[string]*network.Network{}
	for _, nw := range n.Manager.List(ctx) {
		byName[nw.Name] = nw
	}
	removed, err := n.Manager.Prune(ctx, inUse)
	for _, name := range removed {
		if nw := byName[name]; nw != nil {
			n.p.Publish(NetworkEvent("destroy", nw, nil))
		}
	}
	if err == nil {
		n.p.Publish(Event{Type: TypeNetwork, Action: "prune", Actor: Actor{Attributes: map[string]string{"reclaimed": "0"}}})
	}
	return removed, err
}

// Volumes is a volume store that publishes volume events. The container
// engine publishes mount and unmount, which it drives.
type Volumes struct {
	*volume.Store
	p Publisher
}

// PublishVolumes wraps s.
func PublishVolumes(s *volume.Store, p Publisher) *Volumes { return &Volumes{Store: s, p: p} }

func (v *Volumes) volume(action, name, driver string) {
	if driver == "" {
		driver = "local"
	}
	v.p.Publish(Event{Type: TypeVolume, Action: action, Actor: Actor{ID: name, Attributes: map[string]string{"driver": driver}}})
}

// Create implements the store's Create. dockerd tells a create for a
// volume that existed too (a container naming it, `volume create` again).
func (v *Volumes) Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	vol, err := v.Store.Create(ctx, o)
	if err == nil {
		v.volume("create", vol.Name, vol.Driver)
	}
	return vol, err
}

// Remove implements the store's Remove.
func (v *Volumes) Remove(ctx context.Context, name string, force bool) error {
	vol, gerr := v.Store.Get(ctx, name)
	err := v.Store.Remove(ctx, name, force)
	if err == nil && gerr == nil {
		v.volume("destroy", vol.Name, vol.Driver)
	}
	return err
}

// Prune implements the store's Prune.
func (v *Volumes) Prune(ctx context.Context, all bool, labels map[string]string) ([]string, uint64, error) {
	drivers := map[string]string{}
	for _, vol := range v.Store.List(ctx) {
		drivers[vol.Name] = vol.Driver
	}
	names, freed, err := v.Store.Prune(ctx, all, labels)
	for _, name := range names {
		v.volume("destroy", name, drivers[name])
	}
	if err == nil {
		v.p.Publish(Event{Type: TypeVolume, Action: "prune", Actor: Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(freed, 10)}}})
	}
	return names, freed, err
}
