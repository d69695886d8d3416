package batch

import (
	"context"
	"slices"
	"time"
)

// Retention: Batch keeps a finished job (SUCCEEDED or FAILED) for a
// while after it ends and then forgets it; so does wharf, so that the
// job tables, the manager's memory and what a new leader loads stay
// bounded by the work of the retention window, not of the cluster's
// lifetime. An array goes with its children; a finished job that an
// unfinished one still depends on stays until that one ends.

// DefaultRetention is how long finished jobs are kept unless
// WithRetention says otherwise.
const DefaultRetention = 7 * 24 * time.Hour

// sweepEvery is how often finished jobs are looked at for expiry.
const sweepEvery = time.Minute

// WithRetention keeps finished jobs for d after they stopped; 0 keeps
// them forever.
func WithRetention(d time.Duration) Option { return func(m *Manager) { m.retention = d } }

// Outlived returns, in id order, the plain jobs and array parents of jobs
// that finished before now-retention and that no unfinished job depends
// on (directly, or through one of its children).
func Outlived(jobs map[string]*Job, now time.Time, retention time.Duration) []string {
	if retention <= 0 {
		return nil
	}
	needed := map[string]bool{}
	for _, j := range jobs {
		if Done(j.Status) {
			continue
		}
		for _, d := range j.DependsOn {
			id := d.JobID
			if p, _, ok := splitChild(id); ok {
				id = p
			}
			needed[id] = true
		}
	}
	cut := now.Add(-retention)
	var out []string
	for id, j := range jobs {
		end := j.StoppedAt
		if end.IsZero() {
			end = j.CreatedAt
		}
		if Done(j.Status) && end.Before(cut) && !needed[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// expireLocked forgets the jobs Outlived names: their records (the
// children's first, so that a crash midway leaves the parent to find
// again) and their place in memory. A job whose records cannot be
// deleted now stays for the next sweep.
func (m *Manager) expireLocked(ctx context.Context, now time.Time) int {
	if m.retention <= 0 || now.Sub(m.lastSweep) < sweepEvery {
		return 0
	}
	m.lastSweep = now
	gone := map[string]bool{}
	for _, id := range Outlived(m.jobs, now, m.retention) {

		ok := true
		if a := m.arrays[id]; a != nil {
			for i := 0; i < a.size && ok; i++ {
				if a.materialised[i] {
					if err := m.childrenT.Delete(ctx, childKey(id, i), 0); err != nil {
						m.log.Warn("batch: forgetting an expired array's child", "job", ChildID(id, i), "err", err)
						ok = false
					}
				}
			}
		}
		if ok {
			if err := m.jobsT.Delete(ctx, id, 0); err != nil {
				m.log.Warn("batch: forgetting an expired job", "job", id, "err", err)
				ok = false
			}
		}
		if !ok {
			continue
		}
		gone[id] = true
		if a := m.arrays[id]; a != nil {
			for i := 0; i < a.size; i++ {
				delete(m.children, ChildID(id, i))
				delete(m.revs, ChildID(id, i))
			}
		}
		delete(m.revs, id)
		delete(m.arrays, id)
		delete(m.ntonOf, id)
		delete(m.jobs, id)

	}
	if len(gone) == 0 {
		return 0
	}
	m.order = slices.DeleteFunc(m.order, func(id string) bool { return gone[id] })
	for dep, arrs := range m.ntonOf {
		m.ntonOf[dep] = slices.DeleteFunc(arrs, func(id string) bool { return gone[id] })
	}
	m.log.Info("batch: forgot finished jobs past their retention", "jobs", len(gone), "retention", m.retention)
	return len(gone)
}
