package batch

import (
	"math"
	"sort"
	"time"
)

// Snapshot is what the dispatch decision looks at: the environments and
// queues as they are, the vCPUs that attempts under way hold, and the
// RUNNABLE work of each queue.
type Snapshot struct {
	Envs     map[string]*ComputeEnvironment
	Queues   []*JobQueue
	Policies map[string]*SchedulingPolicy
	// Used is the vCPUs of STARTING and RUNNING attempts by environment.
	Used map[string]float64
	// ShareUsage is the vCPUs of STARTING and RUNNING attempts by queue
	// and share identifier (for fair share).
	ShareUsage map[string]map[string]float64
	// Runnable is the RUNNABLE work by queue name.
	Runnable map[string][]Candidate
}

// Candidate is RUNNABLE work of one job: a plain job (Count 1) or the
// RUNNABLE children of an array (Count of them, all alike).
type Candidate struct {
	JobID    string
	VCPUs    float64
	Share    string
	Priority int
	Created  time.Time
	Count    int
}

// Pick is a decision: start N of JobID's RUNNABLE work on Env.
type Pick struct {
	JobID string
	Env   string
	N     int
	VCPUs float64
}

const eps = 1e-9

// Plan decides which RUNNABLE work starts now. Queues are served by
// priority, highest first (then by name); a queue's work goes to the
// first of its environments, in their order, that is ENABLED and has the
// vCPUs free; no environment ever holds more than its maxvCpus. Within a
// queue without a scheduling policy work is first in, first out (by
// creation); with one, the share identifier whose usage (vCPUs held,
// times its weight) is lowest goes next, one unit at a time, and within
// a share by scheduling priority, then creation. Work that fits nowhere
// now stays RUNNABLE and lets smaller work behind it through.
func Plan(s Snapshot) []Pick {
	free := map[string]float64{}
	for name, e := range s.Envs {
		if e.State == StateEnabled && e.Status == EnvValid {
			free[name] = float64(e.MaxVCPUs) - s.Used[name]
		}
	}
	queues := append([]*JobQueue(nil), s.Queues...)
	sort.SliceStable(queues, func(i, j int) bool {
		if queues[i].Priority != queues[j].Priority {
			return queues[i].Priority > queues[j].Priority
		}
		return queues[i].Name < queues[j].Name
	})
	var picks []Pick
	for _, q := range queues {
		if q.State != StateEnabled || q.Status != EnvValid {
			continue
		}
		work := s.Runnable[q.Name]
		if len(work) == 0 {
			continue
		}
		envs := append([]EnvOrder(nil), q.Envs...)
		sort.SliceStable(envs, func(i, j int) bool { return envs[i].Order < envs[j].Order })
		place := func(c *Candidate, want int) (string, int) {
			for _, eo := range envs {
				f, ok := free[eo.Env]
				if !ok || f+eps < c.VCPUs {
					continue
				}
				n := want
				if c.VCPUs > 0 {
					if fit := int(math.Floor((f + eps) / c.VCPUs)); fit < n {
						n = fit
					}
				}
				free[eo.Env] = f - float64(n)*c.VCPUs
				return eo.Env, n
			}
			return "", 0
		}
		var pol *SchedulingPolicy
		if q.Policy != "" {
			pol = s.Policies[q.Policy]
		}
		if pol == nil {
			picks = append(picks, planFIFO(work, place)...)
		} else {
			picks = append(picks, planFairShare(work, pol, s.ShareUsage[q.Name], place)...)
		}
	}
	return picks
}

func planFIFO(work []Candidate, place func(*Candidate, int) (string, int)) []Pick {
	work = append([]Candidate(nil), work...)
	sort.SliceStable(work, func(i, j int) bool { return work[i].Created.Before(work[j].Created) })
	var picks []Pick
	for i := range work {
		c := &work[i]
		for left := c.Count; left > 0; {
			env, n := place(c, left)
			if n == 0 {
				break
			}
			picks = append(picks, Pick{JobID: c.JobID, Env: env, N: n, VCPUs: c.VCPUs})
			left -= n
		}
	}
	return picks
}

func planFairShare(work []Candidate, pol *SchedulingPolicy, usage map[string]float64, place func(*Candidate, int) (string, int)) []Pick {
	byShare := map[string][]*Candidate{}
	var shares []string
	for i := range work {
		c := work[i]
		if _, ok := byShare[c.Share]; !ok {
			shares = append(shares, c.Share)
		}
		byShare[c.Share] = append(byShare[c.Share], &c)
	}
	sort.Strings(shares)
	for _, sh := range shares {
		l := byShare[sh]
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].Priority != l[j].Priority {
				return l[i].Priority > l[j].Priority
			}
			return l[i].Created.Before(l[j].Created)
		})
	}
	used := map[string]float64{}
	for sh, v := range usage {
		used[sh] = v
	}
	// stuck marks shares whose next work fits nowhere: they are out of
	// this round.
	stuck := map[string]bool{}
	var picks []Pick
	for {
		best := ""
		bestScore := math.Inf(1)
		for _, sh := range shares {
			if stuck[sh] || len(byShare[sh]) == 0 {
				continue
			}
			score := used[sh] * pol.Weight(sh)
			if score < bestScore-eps {
				best, bestScore = sh, score
			}
		}
		if best == "" {
			return picks
		}
		c := byShare[best][0]
		env, n := place(c, 1)
		if n == 0 {
			// The head of this share fits nowhere; let the share's
			// smaller work, if any, try.
			rest := byShare[best][1:]
			moved := false
			for i, o := range rest {
				if e, k := place(o, 1); k == 1 {
					picks = appendPick(picks, Pick{JobID: o.JobID, Env: e, N: 1, VCPUs: o.VCPUs})
					used[best] += o.VCPUs
					o.Count--
					if o.Count == 0 {
						byShare[best] = append(byShare[best][:i+1:i+1], rest[i+1:]...)
					}
					moved = true
					break
				}
			}
			if !moved {
				stuck[best] = true
			}
			continue
		}
		picks = appendPick(picks, Pick{JobID: c.JobID, Env: env, N: n, VCPUs: c.VCPUs})
		// A unit of zero vCPUs still counts, so that such work shares.
		used[best] += math.Max(c.VCPUs, eps)
		c.Count--
		if c.Count == 0 {
			byShare[best] = byShare[best][1:]
		}
	}
}

// appendPick adds p, merging it into the last pick of the same job and
// environment.
func appendPick(picks []Pick, p Pick) []Pick {
	if n := len(picks); n > 0 && picks[n-1].JobID == p.JobID && picks[n-1].Env == p.Env {
		picks[n-1].N += p.N
		return picks
	}
	return append(picks, p)
}

// Expired returns the ids of the attempts, among those started at the
// given times with their timeouts in seconds (0: none), that have run
// past their timeout at now, and the earliest time one of the others
// will (zero if none).
func Expired(started map[string]time.Time, timeouts map[string]int, now time.Time) ([]string, time.Time) {
	var out []string
	var next time.Time
	for id, at := range started {
		t := timeouts[id]
		if t <= 0 || at.IsZero() {
			continue
		}
		dl := at.Add(time.Duration(t) * time.Second)
		if !now.Before(dl) {
			out = append(out, id)
		} else if next.IsZero() || dl.Before(next) {
			next = dl
		}
	}
	sort.Strings(out)
	return out, next
}
