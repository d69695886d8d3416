package batch

// WaitsFor is what a job, or child index of an array (index < 0: the
// job itself, or an array parent), waits for before it is RUNNABLE: job
// ids and child ids. A plain job or an array parent waits for its
// dependencies without a type, whole: an array dependency is done when
// its parent is. A child waits for child index of the arrays it depends
// on N_TO_N, and for its own predecessor under SEQUENTIAL.
func WaitsFor(j *Job, index int) []string {
	var out []string
	for _, d := range j.DependsOn {
		switch {
		case index < 0 && d.Type != DepNToN && d.Type != DepSequential:
			out = append(out, d.JobID)
		case index >= 0 && d.Type == DepNToN:
			out = append(out, ChildID(d.JobID, index))
		case index > 0 && d.Type == DepSequential:
			parent := d.JobID
			if parent == "" {
				parent = j.ID
			}
			out = append(out, ChildID(parent, index-1))
		}
	}
	return out
}

// Resolve decides what a job waiting on dependencies whose statuses are
// given becomes: FAILED as soon as one failed, RUNNABLE once all
// succeeded, and "" (keep waiting) otherwise. A missing dependency (""
// status) is waited for.
func Resolve(statuses []string) string {
	all := true
	for _, s := range statuses {
		switch s {
		case StatusFailed:
			return StatusFailed
		case StatusSucceeded:
		default:
			all = false
		}
	}
	if all {
		return StatusRunnable
	}
	return ""
}

// ArrayStatus is an array parent's status given its children's counts
// by status: PENDING until every child is done, then SUCCEEDED if all
// succeeded, else FAILED.
func ArrayStatus(size int, counts map[string]int) string {
	if counts[StatusSucceeded]+counts[StatusFailed] < size {
		return StatusPending
	}
	if counts[StatusFailed] > 0 {
		return StatusFailed
	}
	return StatusSucceeded
}
