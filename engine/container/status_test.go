package container

import (
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		st   State
		want string
	}{
		{State{Status: StatusRunning, StartedAt: now.Add(-3 * time.Minute)}, "Up 3 minutes"},
		{State{Status: StatusPaused, StartedAt: now.Add(-3 * time.Minute)}, "Up 3 minutes (Paused)"},
		{State{Status: StatusExited, ExitCode: 2, FinishedAt: now.Add(-2 * time.Second)}, "Exited (2) 2 seconds ago"},
		{State{Status: StatusExited}, "Created"},
		{State{Status: StatusCreated}, "Created"},
		{State{Status: StatusRemoving}, "Removal In Progress"},
	} {
		if got := c.st.StatusText(now); got != c.want {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
}
