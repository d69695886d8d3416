"""Runs the suite as `python3 -m unittest discover` does and records each outcome.

    python3 run.py RESULTS.json [TEST_ID_PREFIX...]

prints unittest's verbose report and writes {test id: "pass" | "fail" |
"error" | "skip"} (ids as unittest names them: module.Class.test_method) to
RESULTS.json, which the Go test compares with known_failures.txt. Without
prefixes every test runs; with them, only the tests whose id starts with one.
The suite also runs by hand: python3 -m unittest discover -s integration/pysdk -v
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class RecordingResult(unittest.TextTestResult):
    """A TextTestResult that also remembers one outcome per test id."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def _set(self, test, outcome):
        tid = test.id()
        # A test that passed but whose clean-up failed counts as failed.
        if self.outcomes.get(tid) in ("fail", "error"):
            return
        self.outcomes[tid] = outcome

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "fail")

    def addError(self, test, err):
        super().addError(test, err)
        # setUpClass errors arrive as a _ErrorHolder naming the class.
        self._set(test, "error")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skip")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.outcomes[test.id()] = "fail"


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def main():
    out_path = sys.argv[1]
    prefixes = sys.argv[2:]
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(HERE, top_level_dir=HERE)
    tests = [t for t in flatten(suite) if not prefixes or any(t.id().startswith(p) for p in prefixes)]
    runner = unittest.TextTestRunner(verbosity=2, resultclass=RecordingResult, stream=sys.stdout)
    result = runner.run(unittest.TestSuite(tests))
    outcomes = result.outcomes
    for t in tests:
        outcomes.setdefault(t.id(), "error")
    with open(out_path, "w") as f:
        json.dump(outcomes, f, indent=1, sort_keys=True)
    # The Go test judges the outcomes; the exit status only says the run finished.
    return 0


if __name__ == "__main__":
    sys.exit(main())
