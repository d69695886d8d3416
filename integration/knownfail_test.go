package integration

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// The client suites (the Docker SDK for Python, compose v2) assert what
// dockerd answers, and run against a private dockerd too when one is
// installed. Where wharf still differs, the test is listed in a
// known-failures file, read only for the wharf run: a listed test must
// fail on wharf (the list only shrinks) and an unlisted one must pass.

// knownFailure is one line of a known-failures file:
//
//	test id | why it fails on wharf | the issue item it belongs to
//
// A why that starts with "racy:" names a race in wharf that makes the
// test fail only some of the time: that test may pass without failing
// the run (the line goes when the race is fixed).
type knownFailure struct {
	ID, Why, Item string
	Line          int
}

func (k knownFailure) racy() bool { return strings.HasPrefix(k.Why, "racy:") }

// readKnownFailures parses a known-failures file; '#' starts a comment.
func readKnownFailures(t *testing.T, path string) map[string]knownFailure {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]knownFailure{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			t.Fatalf("%s:%d: want \"test id | why | issue item\", got %q", path, n, line)
		}
		k := knownFailure{ID: strings.TrimSpace(parts[0]), Why: strings.TrimSpace(parts[1]), Item: strings.TrimSpace(parts[2]), Line: n}
		if k.ID == "" || k.Why == "" || k.Item == "" {
			t.Fatalf("%s:%d: empty field in %q", path, n, line)
		}
		if prev, dup := out[k.ID]; dup {
			t.Fatalf("%s:%d: %s listed already on line %d", path, n, k.ID, prev.Line)
		}
		out[k.ID] = k
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// outcome is what one test of a client suite did: "pass", "fail",
// "error" or "skip".
type outcome = string

// judgeOutcomes fails t for every outcome the rules forbid (see
// outcomeProblems) and logs the counts.
func judgeOutcomes(t *testing.T, daemon string, outcomes map[string]outcome, known map[string]knownFailure, listPath string, all bool) {
	t.Helper()
	problems, passed, failedKnown := outcomeProblems(daemon, outcomes, known, listPath, all)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%s: %d tests, %d passed, %d known failures", daemon, len(outcomes), passed, failedKnown)
}

// outcomeProblems returns what breaks the rules: on dockerd (known is nil)
// every test must pass, since a test that fails there asserts something
// Docker does not do; on wharf a listed test must fail and an unlisted one
// pass. all says whether the whole suite ran, so that a listed test that
// did not run is reported as a stale entry. Nothing may be skipped.
func outcomeProblems(daemon string, outcomes map[string]outcome, known map[string]knownFailure, listPath string, all bool) (problems []string, passed, failedKnown int) {
	ids := make([]string, 0, len(outcomes))
	for id := range outcomes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := outcomes[id]
		k, listed := known[id]
		switch {
		case o == "skip":
			problems = append(problems, fmt.Sprintf("%s: %s was skipped; the client suites skip nothing", daemon, id))
		case o == "pass" && listed && k.racy():
			passed++
		case o == "pass" && listed:
			problems = append(problems, fmt.Sprintf("%s: %s passes now: remove it from %s (line %d)", daemon, id, listPath, k.Line))
		case o == "pass":
			passed++
		case listed:
			failedKnown++
		case known == nil:
			problems = append(problems, fmt.Sprintf("%s: %s: %s on dockerd, so the test asserts something dockerd does not do: fix the test", daemon, id, o))
		default:
			problems = append(problems, fmt.Sprintf("%s: %s: %s, and it is not in %s (a new difference from dockerd, or a regression)", daemon, id, o, listPath))
		}
	}
	if all {
		var stale []string
		for id, k := range known {
			if _, ran := outcomes[id]; !ran {
				stale = append(stale, fmt.Sprintf("%s: %s (line %d) names no test of the suite", listPath, id, k.Line))
			}
		}
		sort.Strings(stale)
		problems = append(problems, stale...)
	}
	return problems, passed, failedKnown
}
