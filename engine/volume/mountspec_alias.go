package volume

import "github.com/wharf-dev/wharf/engine/volume/mountspec"

// Mount is one mount a user asks for. It is defined, with its parsers, in
// mountspec, which the lean CLI links without the volume store.
type Mount = mountspec.Mount

// Mount types.
const (
	TypeBind   = mountspec.TypeBind
	TypeVolume = mountspec.TypeVolume
	TypeTmpfs  = mountspec.TypeTmpfs
)
