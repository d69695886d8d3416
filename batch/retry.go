package batch

import (
	"strconv"
	"strings"
)

// End is how an attempt ended, as the retry strategy sees it.
type End struct {
	// ExitCode is nil when the container never ran or was lost.
	ExitCode *int
	// Reason is the container's reason (e.g. "CannotPullContainerError:
	// ..."), StatusReason the attempt's.
	Reason       string
	StatusReason string
	// Stopped is set when the attempt was terminated (by the user or its
	// timeout): such an end is never retried.
	Stopped bool
}

// Succeeded reports whether the attempt succeeded.
func (e End) Succeeded() bool { return !e.Stopped && e.ExitCode != nil && *e.ExitCode == 0 }

// Retry decides whether a job whose attempt number attempt (1-based)
// ended with e gets another one under rs, as Batch decides: never after a
// success or a termination, never past rs.Attempts (1 when unset);
// otherwise the first evaluateOnExit rule whose patterns all match
// decides (RETRY or EXIT), and with no rule matching the job is retried.
func Retry(rs *RetryStrategy, attempt int, e End) bool {
	if e.Succeeded() || e.Stopped {
		return false
	}
	max := 1
	if rs != nil && rs.Attempts > 0 {
		max = rs.Attempts
	}
	if attempt >= max {
		return false
	}
	for _, r := range rs.EvaluateOnExit {
		if ruleMatches(r, e) {
			return strings.EqualFold(r.Action, ActionRetry)
		}
	}
	return true
}

func ruleMatches(r EvaluateOnExit, e End) bool {
	if r.OnExitCode != "" {
		if e.ExitCode == nil || !Glob(r.OnExitCode, strconv.Itoa(*e.ExitCode)) {
			return false
		}
	}
	if r.OnReason != "" && !Glob(r.OnReason, e.Reason) {
		return false
	}
	if r.OnStatusReason != "" && !Glob(r.OnStatusReason, e.StatusReason) {
		return false
	}
	return true
}

// Glob matches s against a pattern of evaluateOnExit: exact, or, when
// it ends with '*', a prefix match of what comes before. A pattern of
// only "*" matches anything.
func Glob(pattern, s string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	return pattern == s
}
