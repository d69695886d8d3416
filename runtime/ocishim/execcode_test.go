package ocishim

import "testing"

// The exit codes of execs runc could not start, from runc's own words:
// a working directory that cannot be entered is 126 as on dockerd, not the
// 127 of a missing command.
func TestExecFailCode(t *testing.T) {
	for msg, want := range map[string]int{
		`exec failed: unable to start container process: chdir to cwd ("/no/such/dir") set in config.json failed: no such file or directory`: 126,
		`exec failed: unable to start container process: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory`:            126,
		`exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH`:                                 127,
		`exec failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory`:                         127,
		`exec failed: unable to start container process: exec: "/etc": permission denied`:                                                    126,
	} {
		if got := execFailCode(msg); got != want {
			t.Errorf("%s: %d, want %d", msg, got, want)
		}
	}
}
