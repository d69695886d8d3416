package wharfbuild

import (
	"testing"

	"github.com/wharf-dev/wharf/runtime/shim"
)

func TestDormantEntryMatchesShim(t *testing.T) {
	if dormantEntry != shim.DormantEntry {
		t.Fatalf("wharfbuild links with entry %q, the shim's is %q", dormantEntry, shim.DormantEntry)
	}
}
