package dockerapi

import (
	"net/http/httptest"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// TestBuildOptionsAsDockerd: POST /build's query read as dockerd 1.44
// reads it; docker-py sends Python's "False" for false booleans.
func TestBuildOptionsAsDockerd(t *testing.T) {
	r := httptest.NewRequest("POST", `/build?t=a:1&t=b:2&dockerfile=ci/Dockerfile&target=test&pull=False&nocache=1&q=true&buildargs={"V":"2","U":null}&labels={"team":"x"}&networkmode=default`, nil)
	o, quiet, err := buildOptions(r)
	if err != nil {
		t.Fatal(err)
	}
	if o.Pull || !o.NoCache || !quiet {
		t.Errorf("pull %v nocache %v quiet %v", o.Pull, o.NoCache, quiet)
	}
	if len(o.Tags) != 2 || o.Dockerfile != "ci/Dockerfile" || o.Target != "test" || o.Labels["team"] != "x" || o.Network != "none" {
		t.Errorf("options %+v", o)
	}
	if v := o.BuildArgs["V"]; v == nil || *v != "2" {
		t.Errorf("buildargs %v", o.BuildArgs)
	}
	if v, ok := o.BuildArgs["U"]; !ok || v != nil {
		t.Errorf("a null build arg must stay unset: %v", o.BuildArgs)
	}
	for _, q := range []string{"version=2", "remote=https://example.com/x.git", "buildargs={", "platform=windows/amd64"} {
		if _, _, err := buildOptions(httptest.NewRequest("POST", "/build?"+q, nil)); err == nil || !(errdefs.IsInvalidArgument(err) || errdefs.IsNotImplemented(err)) {
			t.Errorf("%s: error %v", q, err)
		}
	}
}

// TestBuildPruneRefusesPartialPrunes: a prune that asks to keep part of
// the cache is refused before anything is removed.
func TestBuildPruneRefusesPartialPrunes(t *testing.T) {
	for _, q := range []string{`filters={"until":["24h"]}`, `filters={"until":{"24h":true}}`, "keep-storage=1000000", "reserved-space=1000000"} {
		if err := pruneWhole(httptest.NewRequest("POST", "/build/prune?"+q, nil)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: error %v", q, err)
		}
	}
	for _, q := range []string{"", "all=1", "keep-storage=0", `filters={}`} {
		if err := pruneWhole(httptest.NewRequest("POST", "/build/prune?"+q, nil)); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}
