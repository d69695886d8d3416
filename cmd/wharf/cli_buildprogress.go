package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
)

var time0 time.Time

// buildRenderer shows a build's progress: "plain" writes BuildKit's plain
// lines (#N name, #N <output>, #N DONE 0.1s), "tty" redraws a BuildKit-like
// block of steps with the tail of running steps' output, "quiet" nothing.
type buildRenderer struct {
	w      io.Writer
	mode   string
	start  time.Time
	steps  map[int]*stepView
	total  int
	lines  int // lines of the last tty frame
	last   time.Time
	errors []string
}

type stepView struct {
	n             int
	name          string
	status        string
	started, done time.Time
	tail          []string
	partial       []byte
}

func newBuildRenderer(w io.Writer, mode string) *buildRenderer {
	return &buildRenderer{w: w, mode: mode, start: time.Now(), steps: map[int]*stepView{}}
}

// run renders the event stream and returns the final event.
func (r *buildRenderer) run(src io.Reader) (*wharf.BuildEvent, error) {
	dec := json.NewDecoder(src)
	for {
		var e wharf.BuildEvent
		if err := dec.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) {
				r.flush(true)
				return nil, errors.New("the daemon ended the build without a result")
			}
			r.flush(true)
			return nil, fmt.Errorf("reading build progress: %v", err)
		}
		if e.Step == 0 {
			r.flush(true)
			if e.Error != "" {
				return nil, errors.New(e.Error)
			}
			if e.ImageID != "" {
				if r.mode != "quiet" {
					fmt.Fprintf(r.w, "writing image %s\n", e.ImageID)
					for _, t := range e.Tags {
						fmt.Fprintf(r.w, "naming to %s\n", t)
					}
				}
				return &e, nil
			}
			continue
		}
		r.event(e)
	}
}

func (r *buildRenderer) event(e wharf.BuildEvent) {
	if e.Total > 0 {
		r.total = e.Total
	}
	s := r.steps[e.Step]
	if s == nil {
		s = &stepView{n: e.Step, name: e.Name, started: time.Now()}
		r.steps[e.Step] = s
	}
	switch e.Status {
	case "start":
		s.status = "running"
		s.started = time.Now()
		if r.mode == "plain" {
			fmt.Fprintf(r.w, "#%d %s\n", e.Step, e.Name)
		}
	case "log":
		s.partial = append(s.partial, e.Log...)
		for {
			i := bytes.IndexByte(s.partial, '\n')
			if i < 0 {
				break
			}
			r.logLine(s, string(s.partial[:i]))
			s.partial = s.partial[i+1:]
		}
	case "cached":
		s.status, s.done = "cached", time.Now()
		if r.mode == "plain" {
			fmt.Fprintf(r.w, "#%d CACHED\n", e.Step)
		}
	case "done":
		if len(s.partial) > 0 {
			r.logLine(s, string(s.partial))
			s.partial = nil
		}
		s.status, s.done = "done", time.Now()
		if r.mode == "plain" {
			fmt.Fprintf(r.w, "#%d DONE %.1fs\n", e.Step, s.done.Sub(s.started).Seconds())
		}
	case "error":
		if len(s.partial) > 0 {
			r.logLine(s, string(s.partial))
			s.partial = nil
		}
		s.status, s.done = "error", time.Now()
		if r.mode == "plain" {
			fmt.Fprintf(r.w, "#%d ERROR: %s\n", e.Step, e.Error)
		}
		r.errors = append(r.errors, e.Name+": "+e.Error)
	}
	if r.mode == "tty" && time.Since(r.last) > 100*time.Millisecond {
		r.flush(false)
	}
}

func (r *buildRenderer) logLine(s *stepView, line string) {
	switch r.mode {
	case "plain":
		fmt.Fprintf(r.w, "#%d %.3f %s\n", s.n, time.Since(s.started).Seconds(), line)
	case "tty":
		s.tail = append(s.tail, line)
		if len(s.tail) > 6 {
			s.tail = s.tail[len(s.tail)-6:]
		}
	}
}

// flush redraws the tty frame; final draws the last one, with the output
// of failed steps kept.
func (r *buildRenderer) flush(final bool) {
	if r.mode != "tty" {
		return
	}
	r.last = time.Now()
	var b strings.Builder
	if r.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", r.lines)
	}
	keys := make([]int, 0, len(r.steps))
	finished := 0
	for k, s := range r.steps {
		keys = append(keys, k)
		if s.status != "running" {
			finished++
		}
	}
	sort.Ints(keys)
	state := "Building"
	if final {
		state = "Building"
	}
	fmt.Fprintf(&b, "[+] %s %.1fs (%d/%d)\n", state, time.Since(r.start).Seconds(), finished, r.total)
	lines := 1
	for _, k := range keys {
		s := r.steps[k]
		end := s.done
		if end.IsZero() {
			end = time.Now()
		}
		prefix := " => "
		name := s.name
		switch s.status {
		case "cached":
			name = "CACHED " + name
		case "error":
			prefix = " => ERROR "
		}
		fmt.Fprintf(&b, "%s%s  %.1fs\n", prefix, name, end.Sub(s.started).Seconds())
		lines++
		if s.status == "running" || s.status == "error" {
			for _, l := range s.tail {
				fmt.Fprintf(&b, " => => # %s\n", l)
				lines++
			}
		}
	}
	r.lines = lines
	if final {
		r.lines = 0
	}
	io.WriteString(r.w, b.String())
}
