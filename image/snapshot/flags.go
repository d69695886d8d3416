package snapshot

// Flags are mount flags applied when a mount is created, so that no moment
// exists in which the mount lacks them.
type Flags uint32

// Mount flags.
const (
	// ReadOnly refuses writes under the mount (EROFS).
	ReadOnly Flags = 1 << iota
	// NoSuid ignores set-user-ID and set-group-ID bits and file
	// capabilities of files under the mount.
	NoSuid
	// NoDev refuses to open device nodes under the mount.
	NoDev
	// NoExec refuses to execute files under the mount.
	NoExec
)
