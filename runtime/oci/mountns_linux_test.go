package oci

import (
	"slices"
	"strings"
	"testing"
)

// The layout of these hosts: v1 controllers under a tmpfs, and a cgroup2
// mount beside them (carrying hugetlb).
const hybridMountinfo = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
45 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
`

func TestHybridCgroup2Mounts(t *testing.T) {
	cases := []struct {
		name, mountinfo string
		want            []string
	}{
		{"hybrid", hybridMountinfo, []string{"/sys/fs/cgroup/unified"}},
		{"systemd's hybrid, with optional fields", `31 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 master:2 - cgroup cgroup rw,xattr,name=systemd
`, []string{"/sys/fs/cgroup/unified"}},
		{"unified only: nothing to hide", `30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`, nil},
		{"v1 only: nothing to hide", `31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
`, nil},
		{"no cgroups", "26 1 254:0 / / rw - ext4 /dev/vda rw\n", nil},
		{"deepest first, each once, escapes undone", hybridMountinfo +
			"50 40 0:40 / /sys/fs/cgroup/unified/my\\040dir rw - cgroup2 cgroup2 rw\n" +
			"51 26 0:37 / /mnt/cg2 rw - cgroup2 cgroup2 rw\n" +
			"52 26 0:37 / /mnt/cg2 rw - cgroup2 cgroup2 rw\n",
			[]string{"/sys/fs/cgroup/unified/my dir", "/sys/fs/cgroup/unified", "/mnt/cg2"}},
	}
	for _, tc := range cases {
		got, err := HybridCgroup2Mounts([]byte(tc.mountinfo))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHybridCgroup2MountsBadLines(t *testing.T) {
	// Lines that cannot be read are skipped: the mounts around them count.
	for _, bad := range []string{
		"31 30 0:28 / /sys/fs/cgroup/cpu rw cgroup cgroup rw,cpu\n", // no " - "
		"31 30 / - cgroup2 cgroup2 rw\n",                            // too few fields
		"31 30 0:28 / /x rw - \n",                                   // no type
	} {
		got, err := HybridCgroup2Mounts([]byte(bad + hybridMountinfo))
		if err != nil || !slices.Equal(got, []string{"/sys/fs/cgroup/unified"}) {
			t.Errorf("%q: %q, %v", bad, got, err)
		}
	}
	// A cgroup2 mount point that cannot be unescaped is an error: it
	// could not be detached.
	for _, bad := range []string{
		"40 30 0:37 / /sys/fs/cgroup/x\\04 rw - cgroup2 cgroup2 rw\n", // cut escape
		"40 30 0:37 / /sys/fs/cgroup/x\\999 rw - cgroup2 cgroup2 rw\n",
	} {
		if got, err := HybridCgroup2Mounts([]byte(hybridMountinfo + bad)); err == nil {
			t.Errorf("%q: accepted (%q)", bad, got)
		}
	}
}

func TestSelectPrefersTheHostAsItIs(t *testing.T) {
	hidden := Candidate{Name: "crun", Usable: true, Hide: []string{"/sys/fs/cgroup/unified"}, Reason: "started with it hidden"}
	runc := Candidate{Name: "runc", Usable: true, Reason: "started a test container on this host"}

	c, why, err := Select([]Candidate{hidden, runc})
	if err != nil || c.Name != "runc" || !strings.Contains(why, "crun usable only with /sys/fs/cgroup/unified hidden") {
		t.Fatalf("Select = %v %q %v", c.Name, why, err)
	}
	// Nothing else works: the hidden one is better than none.
	c, _, err = Select([]Candidate{hidden, {Name: "runc", Reason: "not installed"}})
	if err != nil || c.Name != "crun" {
		t.Fatalf("Select without runc = %v %v", c.Name, err)
	}
	// Function sandboxes take the first that works at all.
	c, why, err = SelectAny([]Candidate{hidden, runc})
	if err != nil || c.Name != "crun" || why != "crun started with it hidden" {
		t.Fatalf("SelectAny = %v %q %v", c.Name, why, err)
	}
	c, why, err = SelectAny([]Candidate{{Name: "crun", Reason: "hybrid"}, runc})
	if err != nil || c.Name != "runc" || !strings.HasPrefix(why, "crun unusable (hybrid); runc") {
		t.Fatalf("SelectAny without crun = %v %q %v", c.Name, why, err)
	}
	if _, _, err := SelectAny([]Candidate{{Name: "crun", Reason: "x"}}); err == nil {
		t.Fatal("no usable runtime accepted")
	}
}
