package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/runtime/oci"
)

func TestChooseFnRuntime(t *testing.T) {
	hidden := oci.Candidate{Name: "crun", Usable: true, Hide: []string{"/sys/fs/cgroup/unified"}, Reason: "started with it hidden"}
	runc := oci.Candidate{Name: "runc", Usable: true, Reason: "started a test container on this host"}
	broken := oci.Candidate{Name: "crun", Reason: "cgroups in hybrid mode not supported"}

	for _, tc := range []struct {
		mode  string
		cands []oci.Candidate
		want  string // "" for an error
	}{
		{"auto", []oci.Candidate{hidden, runc}, "crun"}, // functions take crun with hidden mounts
		{"", []oci.Candidate{hidden, runc}, "crun"},
		{"auto", []oci.Candidate{broken, runc}, "runc"},
		{"runc", []oci.Candidate{hidden, runc}, "runc"},
		{"crun", []oci.Candidate{broken, runc}, ""}, // named but unusable
		{"runsc", []oci.Candidate{hidden, runc}, ""},
		{"auto", []oci.Candidate{broken}, ""},
	} {
		got, why, err := chooseFnRuntime(tc.mode, tc.cands)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q over %v: chose %s, want an error", tc.mode, tc.cands, got)
			}
			continue
		}
		if err != nil || got != tc.want || why == "" {
			t.Errorf("%q: got %q (%q, %v), want %s", tc.mode, got, why, err, tc.want)
		}
	}
	if _, why, _ := chooseFnRuntime("runc", []oci.Candidate{hidden, runc}); !strings.Contains(why, "--fn-runtime") {
		t.Errorf("an explicit choice says %q", why)
	}
}

// Function sandboxes take the fastest usable runtime unless told: crun
// where it works (with the hybrid layout's cgroup2 mount hidden).
func TestFnRuntimeDefault(t *testing.T) {
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var c fnConfig
	addFunctionFlags(f, &c)
	if err := f.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.runtime != "auto" {
		t.Errorf("--fn-runtime defaults to %q, want auto", c.runtime)
	}
}
