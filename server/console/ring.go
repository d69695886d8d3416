package console

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Ring keeps the recent samples of a bounded set of series on one shared
// timeline: slots samples (the oldest overwritten), at most maxSeries
// series of float32 values. Its memory is bounded by slots×maxSeries×4
// bytes plus the series' names: with the console's defaults (240 slots of
// 5 s, 20 minutes; 2048 series) about 2 MiB at most. A series missing
// from a sample has NaN there; a series missing from every slot is
// dropped, which frees its room for another. Its methods are safe for
// concurrent use.
type Ring struct {
	mu        sync.RWMutex
	slots     int
	maxSeries int
	times     []int64 // Unix milliseconds per slot, 0 when empty
	head      int     // the slot the next sample goes to
	series    map[string]*ringSeries
	refused   int // series not kept because the ring was full
	// changed is closed and replaced by every Add, waking the streams.
	changed chan struct{}
}

type ringSeries struct {
	vals []float32
	// seen is the number of samples since it last had a value.
	seen int
}

// NewRing returns an empty ring.
func NewRing(slots, maxSeries int) *Ring {
	return &Ring{slots: slots, maxSeries: maxSeries, times: make([]int64, slots), series: map[string]*ringSeries{}, changed: make(chan struct{})}
}

// Add records one sample taken at t: vals by series name.
func (r *Ring) Add(t time.Time, vals map[string]float64) {
	r.mu.Lock()
	slot := r.head
	r.times[slot] = t.UnixMilli()
	r.head = (r.head + 1) % r.slots
	for name, s := range r.series {
		if _, ok := vals[name]; ok {
			continue
		}
		s.vals[slot] = float32(math.NaN())
		s.seen++
		if s.seen >= r.slots {
			delete(r.series, name)
		}
	}
	for name, v := range vals {
		s := r.series[name]
		if s == nil {
			if len(r.series) >= r.maxSeries {
				r.refused++
				continue
			}
			s = &ringSeries{vals: make([]float32, r.slots)}
			for i := range s.vals {
				s.vals[i] = float32(math.NaN())
			}
			r.series[name] = s
		}
		s.vals[slot] = float32(v)
		s.seen = 0
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Changed returns a channel closed at the next Add.
func (r *Ring) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Len is the number of series held.
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.series)
}

// Refused is how many times a new series found the ring full.
func (r *Ring) Refused() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.refused
}

// Window is a ring's samples of the series under a prefix, oldest first.
type Window struct {
	// Times are Unix milliseconds.
	Times  []int64
	Series map[string][]float32
}

// Window returns the samples of the series whose names start with
// prefix, oldest first (empty slots left out); last > 0 keeps only the
// last that many.
func (r *Ring) Window(prefix string, last int) Window {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var order []int
	for i := range r.slots {
		slot := (r.head + i) % r.slots
		if r.times[slot] != 0 {
			order = append(order, slot)
		}
	}
	if last > 0 && len(order) > last {
		order = order[len(order)-last:]
	}
	w := Window{Times: make([]int64, len(order)), Series: map[string][]float32{}}
	for i, slot := range order {
		w.Times[i] = r.times[slot]
	}
	for name, s := range r.series {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		vals := make([]float32, len(order))
		for i, slot := range order {
			vals[i] = s.vals[slot]
		}
		w.Series[name] = vals
	}
	return w
}

// AppendJSON appends w as {"times":[...],"series":{"name":[v|null,...]}}
// (NaN as null, which encoding/json cannot write), names sorted.
func (w Window) AppendJSON(b []byte) []byte {
	b = append(b, `{"times":[`...)
	for i, t := range w.Times {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	b = append(b, `],"series":{`...)
	names := make([]string, 0, len(w.Series))
	for n := range w.Series {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		q, _ := json.Marshal(n)
		b = append(b, q...)
		b = append(b, ":["...)
		for j, v := range w.Series[n] {
			if j > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
			}
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}
