package ocishim

import (
	"os"
	"path/filepath"
	"testing"
)

// thawFreezer thaws a frozen (or freezing) cgroup and leaves others
// alone; a cgroup it cannot find needs nothing.
func TestThawFreezer(t *testing.T) {
	root := t.TempDir()
	write := func(cg, state string) string {
		dir := filepath.Join(root, cg)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "freezer.state")
		if err := os.WriteFile(p, []byte(state+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		cgroup, path, state, want string
	}{
		{"/wharf/a", "wharf/a", "FROZEN", "THAWED"},
		{"/wharf/b", "wharf/b", "FREEZING", "THAWED"},
		{"/wharf/c", "wharf/c", "THAWED", "THAWED\n"}, // not rewritten
		{"parent/d", "parent/d", "FROZEN", "THAWED"},  // a relative cgroup parent
		{"/x/../wharf/e", "wharf/e", "FROZEN", "THAWED"},
	} {
		p := write(tc.path, tc.state)
		if err := thawFreezer(root, tc.cgroup); err != nil {
			t.Errorf("%s: %v", tc.cgroup, err)
		}
		if data, _ := os.ReadFile(p); string(data) != tc.want {
			t.Errorf("%s: freezer.state %q, want %q", tc.cgroup, data, tc.want)
		}
	}
	for _, cg := range []string{"/wharf/missing", "system.slice:wharf:f"} {
		if err := thawFreezer(root, cg); err != nil {
			t.Errorf("%s: %v", cg, err)
		}
	}
}
