package oci

import "testing"

func TestStartExitCode(t *testing.T) {
	cases := map[string]int{
		`runc run failed: unable to start container process: exec: "nosuch": executable file not found in $PATH`: 127,
		`exec: "/x": stat /x: no such file or directory`:                                                         127,
		"executable file `/x` not found in $PATH: No such file or directory":                                     127,
		`unable to start container process: exec: "/etc/passwd": permission denied`:                              126,
		`starting sandbox: creating process: failed to load /x: no such file or directory`:                       127,
		`cgroups in hybrid mode not supported`:                                                                   125,
		``:                                                                                                       125,
	}
	for msg, want := range cases {
		if got := StartExitCode(msg); got != want {
			t.Errorf("StartExitCode(%q) = %d, want %d", msg, got, want)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	in := `{"level":"warning","msg":"ignored","time":"x"}
{"level":"error","msg":"runc run failed: boom","time":"x"}
plain text line`
	if got := CleanMessage(in); got != "runc run failed: boom: plain text line" {
		t.Fatalf("got %q", got)
	}
}

func TestSelect(t *testing.T) {
	c, why, err := Select([]Candidate{{Name: "crun", Reason: "hybrid"}, {Name: "runc", Usable: true, Reason: "ok"}})
	if err != nil || c.Name != "runc" || why == "" {
		t.Fatalf("Select = %v %q %v", c, why, err)
	}
	if _, _, err := Select([]Candidate{{Name: "crun", Reason: "x"}}); err == nil {
		t.Fatal("no usable runtime accepted")
	}
}
