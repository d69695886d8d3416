package batch

import (
	"strconv"
	"strings"
)

// statusIndex numbers the statuses for arrayState's one byte per child.
var statusIndex = func() map[string]uint8 {
	m := map[string]uint8{}
	for i, s := range AllStatuses {
		m[s] = uint8(i)
	}
	return m
}()

// arrayState is what the manager keeps of an array's children: one
// status byte each, counts by status, and which children have a record
// of their own. Children without a record are implied (PENDING,
// RUNNABLE, or FAILED by a dependency or a cancel).
type arrayState struct {
	size         int
	st           []uint8
	counts       [7]int
	materialised []bool
	depFailed    []bool
	// hint is the lowest index that may be RUNNABLE.
	hint int
}

func newArrayState(size int) *arrayState {
	a := &arrayState{size: size, st: make([]uint8, size), materialised: make([]bool, size), depFailed: make([]bool, size)}
	a.counts[0] = size // SUBMITTED
	return a
}

func (a *arrayState) get(i int) string { return AllStatuses[a.st[i]] }

func (a *arrayState) set(i int, status string) {
	n := statusIndex[status]
	a.counts[a.st[i]]--
	a.st[i] = n
	a.counts[n]++
	if status == StatusRunnable && i < a.hint {
		a.hint = i
	}
}

// takeRunnable returns up to n RUNNABLE children, lowest index first,
// and leaves them for the caller to move on (they are not changed here).
func (a *arrayState) takeRunnable(n int) []int {
	want := statusIndex[StatusRunnable]
	var out []int
	i := a.hint
	for ; i < a.size && len(out) < n; i++ {
		if a.st[i] == want {
			out = append(out, i)
		}
	}
	if len(out) == 0 || len(out) < n {
		a.hint = a.size
	}
	if len(out) > 0 {
		a.hint = out[len(out)-1] + 1
	}
	return out
}

// summary counts the children by status, as arrayProperties.statusSummary.
func (a *arrayState) summary() map[string]int {
	out := make(map[string]int, len(AllStatuses))
	for i, s := range AllStatuses {
		out[s] = a.counts[i]
	}
	return out
}

// splitChild splits "<parent>:<index>".
func splitChild(id string) (string, int, bool) {
	p, is, ok := strings.Cut(id, ":")
	if !ok {
		return "", 0, false
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || strconv.Itoa(i) != is {
		return "", 0, false
	}
	return p, i, true
}

// cutRevision splits "name:revision".
func cutRevision(s string) (string, int, bool) {
	name, rs, ok := strings.Cut(s, ":")
	if !ok {
		return s, 0, false
	}
	r, err := strconv.Atoi(rs)
	if err != nil || r < 1 {
		return name, 0, false
	}
	return name, r, true
}
