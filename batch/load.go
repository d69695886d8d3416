// Loading the tables into the manager's memory, again after a fenced
// write, and handing the attempts under way back to the launcher.

package batch

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Load reads the tables into memory and hands the attempts under way
// back to the launcher. It runs once, before Run and before the API
// serves.
func (m *Manager) Load(ctx context.Context) error { return m.load(ctx, false) }

// resetLocked forgets what memory holds of the tables, for a load.
func (m *Manager) resetLocked() {
	m.envs, m.queues, m.policies, m.defs, m.latest = map[string]*ComputeEnvironment{}, map[string]*JobQueue{}, map[string]*SchedulingPolicy{}, map[string]*JobDefinition{}, map[string]int{}
	m.jobs, m.children, m.arrays = map[string]*Job{}, map[string]*Job{}, map[string]*arrayState{}
	m.active, m.runnable, m.running = map[string]*Job{}, map[string]*Job{}, map[string]*Job{}
	m.ntonOf, m.order, m.revs = map[string][]string{}, nil, map[string]uint64{}
	m.holdUntil, m.unwatched = time.Time{}, nil
	m.fenced = false
	m.gen++
}

// reload loads the tables again after a write was fenced, until it
// succeeds or ctx ends.
func (m *Manager) reload(ctx context.Context) {
	for {
		err := m.load(ctx, true)
		if err == nil {
			m.log.Warn("batch: tables loaded again after another writer's change")
			return
		}
		m.log.Warn("batch: loading the tables again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(capacityRetry):
		}
	}
}

func (m *Manager) load(ctx context.Context, reset bool) error {
	envs, err := m.envsT.List(ctx)
	if err != nil {
		return err
	}
	queues, err := m.queuesT.List(ctx)
	if err != nil {
		return err
	}
	pols, err := m.policiesT.List(ctx)
	if err != nil {
		return err
	}
	defs, err := m.defsT.List(ctx)
	if err != nil {
		return err
	}
	jobs, err := m.jobsT.List(ctx)
	if err != nil {
		return err
	}
	children, err := m.childrenT.List(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if reset {
		m.resetLocked()
	}
	for _, e := range envs {
		v := e.Value
		m.envs[v.Name] = &v
	}
	for _, e := range queues {
		v := e.Value
		m.queues[v.Name] = &v
	}
	for _, e := range pols {
		v := e.Value
		m.policies[v.Name] = &v
	}
	for _, e := range defs {
		v := e.Value
		m.defs[v.Name+":"+fmt.Sprint(v.Revision)] = &v
		if v.Revision > m.latest[v.Name] {
			m.latest[v.Name] = v.Revision
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].Value.CreatedAt.Before(jobs[j].Value.CreatedAt) })
	for _, e := range jobs {
		j := e.Value
		m.revs[j.ID] = e.Revision
		m.addJobLocked(&j)
	}
	for _, e := range children {
		c := e.Value
		a := m.arrays[c.Parent]
		if a == nil || c.ArrayIndex < 0 || c.ArrayIndex >= a.size {
			continue
		}
		m.revs[c.ID] = e.Revision
		m.children[c.ID] = &c
		a.set(c.ArrayIndex, c.Status)
		a.materialised[c.ArrayIndex] = true
	}
	// The children no record holds: failed with a canceled parent, else
	// waiting until their dependencies are evaluated below.
	for id, a := range m.arrays {
		p := m.jobs[id]
		for i := 0; i < a.size; i++ {
			if a.materialised[i] {
				continue
			}
			if p.Stop != nil {
				a.set(i, StatusFailed)
			} else {
				a.set(i, StatusPending)
			}
		}
	}
	for id, a := range m.arrays {
		if p := m.jobs[id]; p.Released && !Done(p.Status) {
			m.releaseChildrenLocked(ctx, p, a, m.now())
		}
	}
	// Attempts under way go back to the launcher; those asked to stop
	// (TerminateJob, a timeout) are asked again: the stop may not have
	// reached the launcher before the last manager went away.
	var watch []watchItem
	var stops []stopItem
	for _, j := range m.allRunningLocked() {
		m.running[j.Running.ID] = j
		watch = append(watch, watchItem{m.specLocked(j, j.Running), j.Running.Ref})
		if j.Stop != nil {
			stops = append(stops, m.stopItemLocked(j, j.Stop.Reason))
		}
	}
	nJobs, nChildren := len(m.jobs), len(m.children)
	m.mu.Unlock()
	for _, w := range watch {
		if err := m.launch.Watch(ctx, w.spec, w.ref); err != nil {
			// Run tries again: an attempt left unwatched would hold its
			// job STARTING or RUNNING for ever.
			m.log.Warn("batch: re-attaching to an attempt", "job", w.spec.JobID, "attempt", w.spec.ID, "err", err)
			m.mu.Lock()
			m.unwatched = append(m.unwatched, w)
			m.mu.Unlock()
		}
	}
	for _, s := range stops {
		go m.stop(s)
	}
	m.log.Info("batch: state loaded", "jobs", nJobs, "children", nChildren, "running", len(watch))
	m.poke()
	return nil
}

func (m *Manager) allRunningLocked() []*Job {
	var out []*Job
	for _, j := range m.jobs {
		if j.Running != nil && !j.IsArray() {
			out = append(out, j)
		}
	}
	for _, c := range m.children {
		if c.Running != nil {
			out = append(out, c)
		}
	}
	return out
}

// rewatchUnwatched hands the attempts Load could not hand to Watch
// again, in the background.
func (m *Manager) rewatchUnwatched(ctx context.Context) {
	m.mu.Lock()
	unwatched, gen := m.unwatched, m.gen
	m.unwatched = nil
	m.mu.Unlock()
	for _, w := range unwatched {
		go m.rewatch(ctx, w.spec, w.ref, gen)
	}
}

// watchItem is an attempt under way to hand to the launcher's Watch.
type watchItem struct {
	spec AttemptSpec
	ref  string
}

// rewatch hands an attempt to the launcher's Watch (ref "" when Launch
// never answered: it is found by its ID) until the launcher takes it,
// the manager stops, or the tables are loaded again (the load hands it).
func (m *Manager) rewatch(run context.Context, spec AttemptSpec, ref string, gen int) {
	for {
		m.mu.Lock()
		stale := m.gen != gen
		m.mu.Unlock()
		if stale {
			return
		}
		err := m.launch.Watch(run, spec, ref)
		if err == nil {
			return
		}
		m.log.Warn("batch: looking for an attempt", "job", spec.JobID, "attempt", spec.ID, "err", err)
		select {
		case <-run.Done():
			return
		case <-time.After(capacityRetry):
		}
	}
}
