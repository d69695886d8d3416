package container

import "time"

// Restart back-off, as docker's: the delay doubles from 100ms on each
// consecutive restart, is capped at one minute, and starts over once a run
// lasted at least 10 seconds.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// restartDecision says whether a container that just exited is restarted by
// its policy, and after how long. It is pure: the caller passes the state.
//
// prevDelay is the delay used before the last restart (0 if none); ranFor is
// how long the last run lasted.
func restartDecision(p RestartPolicy, exitCode int, restartCount int, manuallyStopped, daemonShutdown bool, prevDelay, ranFor time.Duration) (bool, time.Duration) {
	if manuallyStopped || daemonShutdown {
		return false, 0
	}
	switch p.Name {
	case "always", "unless-stopped":
	case "on-failure":
		if exitCode == 0 {
			return false, 0
		}
		if p.MaximumRetryCount > 0 && restartCount >= p.MaximumRetryCount {
			return false, 0
		}
	default:
		return false, 0
	}
	return true, nextDelay(prevDelay, ranFor)
}

func nextDelay(prev, ranFor time.Duration) time.Duration {
	if prev == 0 || ranFor >= backoffReset {
		return backoffMin
	}
	d := prev * 2
	if d > backoffMax {
		d = backoffMax
	}
	return d
}

// restartOnDaemonStart says whether a container found stopped when the
// daemon starts is started again: docker starts always-containers and
// unless-stopped ones that a user did not stop, and on-failure ones whose
// last exit was a failure.
func restartOnDaemonStart(p RestartPolicy, s State, restartCount int) bool {
	switch p.Name {
	case "always":
		return !s.ManuallyStopped
	case "unless-stopped":
		return !s.ManuallyStopped
	case "on-failure":
		return !s.ManuallyStopped && s.ExitCode != 0 && (p.MaximumRetryCount == 0 || restartCount < p.MaximumRetryCount)
	}
	return false
}
