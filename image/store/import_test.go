package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// docker import -m sets the image's comment; without it the comment is
// dockerd's "Imported from -" (both recorded against dockerd 20.10).
func TestImportMessage(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	for _, tc := range []struct {
		opts []ImportOption
		want string
	}{
		{nil, "Imported from -"},
		{[]ImportOption{WithMessage("")}, "Imported from -"},
		{[]ImportOption{WithMessage("my message")}, "my message"},
	} {
		img, err := s.Import(ctx, bytes.NewReader(testutil.BusyboxRootfsTar(t)), "", nil, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.History(ctx, img.ID)
		if err != nil || len(h) != 1 || h[0].Comment != tc.want {
			t.Errorf("history of an import with %d options: %+v %v, want comment %q", len(tc.opts), h, err, tc.want)
		}
	}
}
