// Package spareproc is the body of wharf-spare, the process a pre-started
// function sandbox runs until the daemon gives it a function: it asks the
// sandbox's Runtime API endpoint for its start order, which blocks until
// the sandbox is claimed, and then execs the function's runtime in its
// place (same pid, same namespaces, cgroup, seccomp filter and user).
//
// It runs inside the sandbox as the unprivileged sandbox user; the wharf
// binary is bind-mounted read-only for it, which needs a static build, and
// taken away again by the daemon once it waits (see functions/sandbox/spare_linux.go):
// nothing here may open the binary's path after the start.
package spareproc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// StartPath is where the waiting process asks for its start order, on
// the sandbox's Runtime API listener.
const StartPath = "/wharf/spare/start"

// Start is the start order: the command line, the environment over the
// waiting process's own, and the working directory ("": unchanged).
type Start struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir,omitempty"`
}

// Main waits for the start order and execs it; it returns only on failure,
// with 125 when no order came and 126/127 as a shell when the command
// cannot be run.
func Main() int {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		fmt.Fprintln(os.Stderr, "wharf-spare: AWS_LAMBDA_RUNTIME_API is not set")
		return 125
	}
	resp, err := http.Get("http://" + api + StartPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wharf-spare: waiting for a function: %v\n", err)
		return 125
	}
	var s Start
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(s.Args) == 0 {
		fmt.Fprintf(os.Stderr, "wharf-spare: no start order (status %d): %v\n", resp.StatusCode, err)
		return 125
	}
	if s.Dir != "" {
		if err := os.Chdir(s.Dir); err != nil {
			fmt.Fprintf(os.Stderr, "wharf-spare: %v\n", err)
			return 125
		}
	}
	err = syscall.Exec(s.Args[0], s.Args, MergeEnv(os.Environ(), s.Env))
	fmt.Fprintf(os.Stderr, "wharf-spare: exec %s: %v\n", s.Args[0], err)
	if os.IsNotExist(err) {
		return 127
	}
	return 126
}

// MergeEnv returns base with over applied: a key in over replaces the same
// key in base; the others are appended in over's order.
func MergeEnv(base, over []string) []string {
	keys := make(map[string]bool, len(over))
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}
