package nativeapi

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/wharf-dev/wharf/api/wharf"
)

// Every answer, a router's 404 included, names the API version, so that a
// newer CLI can tell a request this daemon lacks from a missing object.
func TestEveryAnswerCarriesTheAPIVersion(t *testing.T) {
	s := New(newRecContainers(), nil, nil, slog.New(slog.DiscardHandler))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/wharf/v1/containers/nosuch/json"},
		{"GET", "/wharf/v1/_ping"},
		{"POST", "/wharf/v1/no/such/route"},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if got := rec.Header().Get(wharf.VersionHeader); got != wharf.APIVersion {
			t.Errorf("%s %s: %d with %s %q, want %q", tc.method, tc.path, rec.Code, wharf.VersionHeader, got, wharf.APIVersion)
		}
	}
}
