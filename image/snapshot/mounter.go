package snapshot

import "context"

// Layers are the directories of one overlay mount: the read-only layers
// of an image and the writable layer on top of them.
type Layers struct {
	// Lowers are the image's unpacked layers, bottom first, as
	// store.LayerDirs returns them.
	Lowers []string
	// Upper receives every change made under the mount; Work is the
	// overlay's scratch directory on the same filesystem. Both are
	// created if missing.
	Upper, Work string
}

// Mounter mounts the root filesystems of containers: an image's layers
// under a writable layer, merged at a target directory.
//
// Lifecycle of one target: Mount makes the merged view appear at the
// (existing, empty) target directory; every change made under it is in
// Layers.Upper, and none in the lowers, by the time Unmount has taken the
// view down and left the target an empty directory again, kept for the
// next Mount of the same layers. Unmount of a
// target with nothing mounted is not an error, so callers unmount
// before they mount whatever a crash left. A target is mounted once at
// a time.
//
// Overlay is the kernel's implementation; runtime/fake has one that needs
// no privilege; image/snapshot/testsuite is the suite both pass.
type Mounter interface {
	Mount(ctx context.Context, target string, l Layers, f Flags) error
	Unmount(ctx context.Context, target string) error
}

// Overlay mounts with the kernel's overlayfs (MountOverlay and Unmount).
type Overlay struct{}

// Mount implements Mounter.
func (Overlay) Mount(_ context.Context, target string, l Layers, f Flags) error {
	return MountOverlay(target, l.Lowers, l.Upper, l.Work, f)
}

// Unmount implements Mounter.
func (Overlay) Unmount(_ context.Context, target string) error { return Unmount(target) }
