// An attempt's launch and the writes of job records, which keep a job to
// one live attempt (see the package doc).

package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// stopItem is an attempt to stop, decided under the lock: its spec
// lets the launcher find it when ref is "" (Launch never answered).
type stopItem struct {
	spec        AttemptSpec
	ref, reason string
}

// stopItemLocked is the stop of j's attempt under way.
func (m *Manager) stopItemLocked(j *Job, reason string) stopItem {
	return stopItem{spec: m.specLocked(j, j.Running), ref: j.Running.Ref, reason: reason}
}

// stop asks the launcher to end an attempt, with or without its
// reference: an attempt whose Launch never answered (a restart, an
// unknown outcome) may run all the same, and is found by its ID.
func (m *Manager) stop(s stopItem) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.launch.Stop(ctx, s.spec, s.ref, s.reason); err != nil && !errdefs.IsNotFound(err) {
		m.log.Warn("batch: stopping an attempt", "job", s.spec.JobID, "attempt", s.spec.ID, "ref", s.ref, "err", err)
	}
}

// runLaunch starts one attempt and records the outcome. run is the
// manager's own context (Run's): once it ends the manager has stopped (a
// cluster's manager that no longer leads) and another may have loaded
// the tables, so nothing of the outcome is written or acted on here: the
// attempt's record says STARTING with its ID, and the next manager's
// Watch finds what runs.
func (m *Manager) runLaunch(run context.Context, spec AttemptSpec, gen int) {
	ctx, cancel := context.WithTimeout(run, 10*time.Minute)
	defer cancel()
	ref, err := m.launch.Launch(ctx, spec)
	if run.Err() != nil {
		m.log.Info("batch: the manager stopped while an attempt was launched; the next one finds it", "job", spec.JobID, "attempt", spec.ID, "ref", ref, "err", err)
		return
	}
	now := m.now()
	m.mu.Lock()
	if m.gen != gen || m.fenced {
		// The tables were (or are to be) loaded again since: the load
		// hands the attempt, recorded STARTING, to Watch.
		m.mu.Unlock()
		m.log.Info("batch: the tables were reloaded while an attempt was launched; the load finds it", "job", spec.JobID, "attempt", spec.ID, "ref", ref, "err", err)
		return
	}
	j := m.running[spec.ID]
	if j == nil || j.Running == nil || j.Running.ID != spec.ID {
		// The attempt is no longer the job's (its end came first): a
		// task it left must not run on unwatched (one whose launch
		// outcome is unknown is looked for by its ID).
		m.mu.Unlock()
		if err == nil || errors.Is(err, ErrOutcomeUnknown) {
			m.stop(stopItem{spec: spec, ref: ref, reason: ReasonLost})
		}
		return
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		// The attempt may run: it stays STARTING, holding its place, and
		// is found the way a restarted manager finds it. A stop asked
		// for meanwhile (TerminateJob while it launched) is sent now,
		// by the attempt's ID, since no reference will come.
		var stop *stopItem
		if j.Stop != nil {
			stop = &stopItem{spec: spec, reason: j.Stop.Reason}
		}
		m.mu.Unlock()
		m.log.Warn("batch: whether an attempt started is not known; looking for it", "job", spec.JobID, "attempt", spec.ID, "err", err)
		if stop != nil {
			m.stop(*stop)
		}
		m.rewatch(run, spec, "", gen)
		return
	}
	if errors.Is(err, ErrNoCapacity) && j.Stop == nil {
		m.requeueLocked(ctx, j, now)
		m.mu.Unlock()
		m.log.Info("batch: no capacity for an attempt now; the job waits", "job", spec.JobID, "err", err)
		m.poke()
		return
	}
	if err != nil {
		m.mu.Unlock()
		m.log.Warn("batch: an attempt did not start", "job", spec.JobID, "attempt", spec.ID, "err", err)
		m.handleEnd(context.Background(), AttemptEnd{ID: spec.ID, Reason: ReasonLaunchFailure + ": " + err.Error(), StoppedAt: now})
		m.poke()
		return
	}
	m.setRefLocked(j, spec, ref)
	m.runningLocked(j, now)
	stopNow := j.Stop != nil
	reason := ""
	if stopNow {
		reason = j.Stop.Reason
	}
	_ = m.saveLocked(ctx, j)
	m.mu.Unlock()
	if stopNow {
		m.stop(stopItem{spec: spec, ref: ref, reason: reason})
	}
	m.poke()
}

// requeueLocked puts a STARTING job whose attempt found no capacity back
// to RUNNABLE, without counting the attempt, and holds dispatching for
// capacityRetry.
func (m *Manager) requeueLocked(ctx context.Context, j *Job, now time.Time) {
	m.unstartLocked(j, now)
	_ = m.saveLocked(ctx, j)
}

// unstartLocked is requeueLocked without the write.
func (m *Manager) unstartLocked(j *Job, now time.Time) {
	delete(m.running, j.Running.ID)
	j.Running = nil
	j.Status, j.StatusReason = StatusRunnable, ""
	if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, StatusRunnable)
	} else {
		m.runnable[j.ID] = j
	}
	m.holdUntil = now.Add(capacityRetry)
}

// writableLocked refuses the API's changes while the tables are to be
// loaded again (a change made meanwhile would be forgotten by the load).
func (m *Manager) writableLocked() error {
	if m.fenced {
		return fmt.Errorf("Batch's manager is loading its tables again; retry: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// errFenced is what saveLocked answers once a write has been fenced.
var errFenced = fmt.Errorf("another writer changed Batch's tables; they are loaded again first: %w", errdefs.ErrConflict)

// saveLocked writes a job or child record, compare-and-set on the
// revision last read or written (a record not known yet is created); a
// failed write is logged and returned, and one that lost to another
// writer fences the manager (see revs).
func (m *Manager) saveLocked(ctx context.Context, j *Job) error {
	if m.fenced {
		return errFenced
	}
	t, key := m.jobsT, j.ID
	if j.Parent != "" {
		t, key = m.childrenT, childKey(j.Parent, j.ArrayIndex)
	}
	var rev uint64
	var err error
	if last, ok := m.revs[j.ID]; ok {
		rev, err = t.Update(ctx, key, *j, last)
	} else {
		rev, err = t.Create(ctx, key, *j)
	}
	if err == nil {
		m.revs[j.ID] = rev
		if j.Parent != "" {
			m.arrays[j.Parent].materialised[j.ArrayIndex] = true
		}
		return nil
	}
	if errdefs.IsConflict(err) {
		m.fenced = true
		m.poke()
		m.log.Error("batch: a job's record changed under this manager (another manager wrote it, or it was read from a replica that lagged); loading the tables again", "job", j.ID, "status", j.Status, "err", err)
		return err
	}
	m.log.Error("batch: writing a job", "job", j.ID, "status", j.Status, "err", err)
	return err
}

// beginAttemptLocked makes j STARTING with a new attempt on env. The
// attempt is launched only once its record (STARTING, with the attempt's
// ID) is written: a manager that takes over later must know of every
// attempt that may run, or it would start another beside it; and a
// manager that cannot write (it lost the cluster's quorum, another leads
// now) must not launch. When the write fails the job stays RUNNABLE and
// dispatching pauses as after a launch without capacity.
func (m *Manager) beginAttemptLocked(ctx context.Context, j *Job, env string, now time.Time) (launchItem, bool) {
	aid := newAttemptID()
	defName, _, _ := cutRevision(j.Definition)
	a := &Attempt{ID: aid, LogStream: defName + "/default/" + aid, Env: env}
	j.Running = a
	j.Status = StatusStarting
	j.StatusReason = ""
	m.running[aid] = j
	if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, StatusStarting)
	}
	if err := m.saveLocked(ctx, j); err != nil {
		m.unstartLocked(j, now)
		return launchItem{}, false
	}
	return launchItem{spec: m.specLocked(j, a), gen: m.gen}, true
}

func newAttemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// specLocked is what the launcher needs of attempt a of job j.
func (m *Manager) specLocked(j *Job, a *Attempt) AttemptSpec {
	env := append([]KeyValue(nil), j.Container.Environment...)
	env = append(env,
		KeyValue{Name: "AWS_BATCH_JOB_ID", Value: j.ID},
		KeyValue{Name: "AWS_BATCH_JOB_ATTEMPT", Value: fmt.Sprint(len(j.Attempts) + 1)},
		KeyValue{Name: "AWS_BATCH_CE_NAME", Value: a.Env},
		KeyValue{Name: "AWS_BATCH_JQ_NAME", Value: j.Queue},
	)
	if j.Parent != "" {
		env = append(env, KeyValue{Name: "AWS_BATCH_JOB_ARRAY_INDEX", Value: fmt.Sprint(j.ArrayIndex)})
	}
	return AttemptSpec{
		ID: a.ID, JobID: j.ID, JobName: j.Name, Attempt: len(j.Attempts) + 1, Queue: j.Queue, Env: a.Env,
		Image: j.Container.Image, Command: Substitute(j.Container.Command, j.Parameters), Environment: env,
		VCPUs: j.Container.VCPUs, MemoryMiB: j.Container.MemoryMiB, User: j.Container.User, ReadOnly: j.Container.ReadonlyRootFilesystem,
		LogStream: a.LogStream, Definition: j.Definition, DefinitionContainer: m.definitionContainerLocked(j),
	}
}

// definitionContainerLocked is the container of j's job definition as
// registered (the job's own when the revision is gone).
func (m *Manager) definitionContainerLocked(j *Job) Container {
	if d := m.defs[j.Definition]; d != nil {
		return d.Container
	}
	return j.Container
}

// setRefLocked records the reference of j's running attempt (spec), and
// its log stream when the launcher names streams after it.
func (m *Manager) setRefLocked(j *Job, spec AttemptSpec, ref string) {
	j.Running.Ref = ref
	if sn, ok := m.launch.(StreamNamer); ok {
		j.Running.LogStream = sn.LogStream(spec, ref)
	}
}

// runningLocked moves j from STARTING to RUNNING, its attempt started at
// started; it reports whether j was STARTING.
func (m *Manager) runningLocked(j *Job, started time.Time) bool {
	if j.Status != StatusStarting {
		return false
	}
	j.Status = StatusRunning
	j.Running.StartedAt = started
	if j.StartedAt.IsZero() {
		j.StartedAt = started
	}
	if j.Parent != "" {
		m.arrays[j.Parent].set(j.ArrayIndex, StatusRunning)
	}
	return true
}
