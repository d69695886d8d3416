// Package backend declares, once, what the API servers ask of the engine:
// small interfaces, one per role, that the Docker API (server/dockerapi)
// and the native API (server/nativeapi) embed into their own interfaces,
// each taking the roles it serves. Moby's api/server/router/*/backend.go
// are the model. One engine, and one fake, satisfies both servers; a
// handler that needs one role can be given, and tested with, that role
// alone.
//
// The roles speak the engine's types (engine/container, engine/network,
// engine/volume, image/store): the wire formats stay in the servers.
package backend

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// ContainerLifecycle creates containers and drives them through their
// states (see the state machine in engine/container). A ref is a full ID,
// a unique ID prefix or a name.
type ContainerLifecycle interface {
	Create(ctx context.Context, o container.CreateOptions) (*container.Container, error)
	Get(ctx context.Context, ref string) (*container.Container, error)
	List(ctx context.Context) []*container.Container
	Start(ctx context.Context, ref string) error
	// Stop signals the container (its stop signal unless signal is set)
	// and kills it after timeout seconds (its stop timeout when nil).
	Stop(ctx context.Context, ref string, timeout *int, signal string) error
	Kill(ctx context.Context, ref, signal string) error
	Restart(ctx context.Context, ref string, timeout *int) error
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
	Rename(ctx context.Context, ref, name string) error
	// Wait blocks until the container reaches condition ("not-running",
	// "next-exit", "removed") and returns its exit code; registered is
	// called once the waiter is in place, so that a caller may start the
	// container and be sure to see its exit.
	Wait(ctx context.Context, ref, condition string, registered container.WaitRegistered) (int, error)
	Remove(ctx context.Context, ref string, o container.RemoveOptions) error
	// Update changes a container's limits and restart policy, live for
	// a running container, and returns dockerd's warnings.
	Update(ctx context.Context, ref string, o container.UpdateOptions) ([]string, error)
	// Prune removes every stopped container and returns their IDs and
	// the bytes of writable layer it freed.
	Prune(ctx context.Context) ([]string, uint64, error)
}

// ContainerLinks removes legacy links (docker rm --link); the links
// themselves are in a container's HostConfig.
type ContainerLinks interface {
	// RemoveLink removes the link alias of the container parent.
	RemoveLink(ctx context.Context, parent, alias string) error
}

// ContainerAttach connects a client's stream to a container's stdio.
type ContainerAttach interface {
	// Attach streams until the container's output or the client ends.
	Attach(ctx context.Context, ref string, o container.AttachOptions) error
	Resize(ctx context.Context, ref string, h, w uint16) error
}

// ContainerLogs reads a container's log.
type ContainerLogs interface {
	// Logs calls emit with every selected entry, following new ones when
	// asked; o.Ready is called once the log is found readable, and an
	// error before it means nothing was read.
	Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error
}

// ContainerStats observes a running container's processes and resources.
type ContainerStats interface {
	Stats(ctx context.Context, ref string) (*container.Stats, error)
	Top(ctx context.Context, ref, psArgs string) ([]string, [][]string, error)
}

// ContainerExec runs more processes in running containers. An exec is
// created, then started once, attached to a stream or detached.
type ContainerExec interface {
	ExecCreate(ctx context.Context, ref string, cfg container.ExecConfig) (string, error)
	ExecStart(ctx context.Context, id string, o container.ExecStartOptions) error
	ExecInspect(ctx context.Context, id string) (*container.Exec, error)
	ExecResize(ctx context.Context, id string, h, w uint16) error
}

// ContainerFS is the engine's access to containers' files: docker cp
// (stat, read and write a path), export and diff. The engine resolves every
// path inside the container and knows no wire format.
type ContainerFS interface {
	StatPath(ctx context.Context, ref, path string) (*container.PathStat, error)
	// ArchivePath and Export return an archive that holds the container
	// until it is closed.
	ArchivePath(ctx context.Context, ref, path string) (*container.Archive, error)
	Export(ctx context.Context, ref string) (*container.Archive, error)
	ExtractToDir(ctx context.Context, ref, path string, r io.Reader, o container.ExtractOptions) error
	Changes(ctx context.Context, ref string) ([]container.Change, error)
	// Commit makes an image of the container's writable layer on its
	// image (docker commit).
	Commit(ctx context.Context, ref string, o container.CommitOptions) (*store.Image, error)
}

// ContainerPaths names the files the Docker API shows in inspect.
type ContainerPaths interface {
	// LogPath is a container's json-file log ("" for other drivers);
	// RootfsPath its merged root filesystem, mounted while it runs.
	LogPath(id string) string
	RootfsPath(id string) string
}

// ImageUse tells whether an image may be removed: whether a container (or
// another holder the engine knows, such as a function version) uses it.
type ImageUse interface {
	ImageInUse(imageID string) bool
}

// Images is the image store. refOrID is a reference ("busybox",
// "registry:5000/x:tag", "name@sha256:…") or a full or unique short ID.
type Images interface {
	Get(ctx context.Context, refOrID string) (*store.Image, error)
	List(ctx context.Context) ([]*store.Image, error)
	Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error)
	Push(ctx context.Context, ref string, progress func(store.Progress)) (store.Pushed, error)
	Import(ctx context.Context, r io.Reader, ref string, cfg *v1.Config, opts ...store.ImportOption) (*store.Image, error)
	Save(ctx context.Context, w io.Writer, refs []string, format string) error
	Load(ctx context.Context, r io.Reader) ([]*store.Image, error)
	Tag(ctx context.Context, src, target string) error
	History(ctx context.Context, refOrID string) ([]store.HistoryEntry, error)
	Remove(ctx context.Context, refOrID string, force bool, inUse func(string) bool) ([]store.Deleted, error)
	Prune(ctx context.Context, all bool, inUse func(string) bool) ([]store.Deleted, uint64, error)
}

// Networks is the network manager.
type Networks interface {
	Create(ctx context.Context, o network.CreateOptions) (*network.Network, error)
	List(ctx context.Context) []*network.Network
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, inUse func(*network.Network) bool) ([]string, error)
}

// NetworkConnector attaches containers to networks: the container engine,
// which records the attachment in the container.
type NetworkConnector interface {
	ConnectNetwork(ctx context.Context, ref, network string, o container.EndpointOptions) error
	DisconnectNetwork(ctx context.Context, ref, network string, force bool) error
	NetworkInUse(networkID string) bool
}

// Volumes is the volume store.
type Volumes interface {
	Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error)
	List(ctx context.Context) []*volume.Volume
	Get(ctx context.Context, name string) (*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, all bool, labels map[string]string) ([]string, uint64, error)
}

// Events is the engine's event bus (engine/events.Bus), which the servers
// stream from.
type Events interface {
	// Subscribe starts a subscription; the caller closes it.
	Subscribe(o events.SubscribeOptions) (*events.Subscription, error)
	// Listeners is the number of live subscriptions of API clients (the
	// daemon's own controllers' are not counted).
	Listeners() int
}

// System answers version and info; the daemon implements it.
type System interface {
	Version() wharf.Version
	Info(ctx context.Context) wharf.Info
}
