package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKnownFailures(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("# comment | with | bars\n\n a.B.test_x | why it fails | issue 13: item \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readKnownFailures(t, good)
	if k, ok := got["a.B.test_x"]; len(got) != 1 || !ok || k.Why != "why it fails" || k.Item != "issue 13: item" || k.Line != 3 {
		t.Errorf("readKnownFailures: %+v", got)
	}
}

func TestOutcomeProblems(t *testing.T) {
	known := map[string]knownFailure{
		"t.listed_fails":  {ID: "t.listed_fails", Line: 1},
		"t.listed_passes": {ID: "t.listed_passes", Line: 2},
		"t.listed_gone":   {ID: "t.listed_gone", Line: 3},
		"t.racy_passes":   {ID: "t.racy_passes", Why: "racy: sometimes", Line: 4},
		"t.racy_fails":    {ID: "t.racy_fails", Why: "racy: sometimes", Line: 5},
	}
	outcomes := map[string]outcome{
		"t.listed_fails":    "fail",
		"t.listed_passes":   "pass",
		"t.unlisted_passes": "pass",
		"t.unlisted_errors": "error",
		"t.skipped":         "skip",
		"t.racy_passes":     "pass",
		"t.racy_fails":      "fail",
	}
	problems, passed, failedKnown := outcomeProblems("wharf", outcomes, known, "list.txt", true)
	want := []string{"t.listed_passes passes now", "t.skipped was skipped", "t.unlisted_errors: error, and it is not in list.txt", "t.listed_gone (line 3) names no test"}
	if len(problems) != len(want) {
		t.Fatalf("problems %q, want %d", problems, len(want))
	}
	for _, w := range want {
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, w)
		}
		if !found {
			t.Errorf("no problem says %q: %q", w, problems)
		}
	}
	if passed != 2 || failedKnown != 2 {
		t.Errorf("passed %d, known failures %d; want 2, 2", passed, failedKnown)
	}

	// A part of the suite: a listed test that did not run is no problem.
	if problems, _, _ := outcomeProblems("wharf", map[string]outcome{"t.listed_fails": "fail"}, known, "list.txt", false); len(problems) != 0 {
		t.Errorf("partial run: %q", problems)
	}
	// On dockerd nothing is listed and every failure is the test's fault.
	problems, _, _ = outcomeProblems("dockerd", map[string]outcome{"t.a": "pass", "t.b": "fail"}, nil, "", true)
	if len(problems) != 1 || !strings.Contains(problems[0], "t.b: fail on dockerd") {
		t.Errorf("dockerd: %q", problems)
	}
}
