package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/docker/go-units"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/wharf-dev/wharf/api/wharf"
)

// progressRenderer shows a pull or push progress stream. Lifecycle: handle
// is called once per message in stream order, then finish exactly once.
type progressRenderer interface {
	handle(m wharf.ProgressMessage)
	finish()
}

// transferOptions configure transferImage.
type transferOptions struct {
	out   io.Writer
	tty   bool // draw bars; otherwise print docker's plain lines
	quiet bool // print only the final reference
	push  bool
}

// transferImage pulls or pushes ref and renders the daemon's progress
// stream. A message carrying an error ends the transfer with that error.
func transferImage(ctx context.Context, c *wharf.Client, ref string, o transferOptions) error {
	path := "/images/pull"
	if o.push {
		path = "/images/push"
	}
	body, err := c.Stream(ctx, "POST", path, url.Values{"ref": {ref}}, nil)
	if err != nil {
		return err
	}
	defer body.Close()
	var r progressRenderer = discardProgress{}
	switch {
	case o.quiet:
	case o.tty:
		r = newBarProgress(o.out)
	default:
		r = &plainProgress{out: o.out}
	}
	sum, err := renderProgress(body, r)
	r.finish()
	if err != nil {
		return err
	}
	display := displayRef(ref)
	if !o.quiet && !o.push && !sum.sawStatus {
		// Docker's daemon ends a pull with a "Status:" line; print one
		// ourselves when the daemon did not, so the output reads the same.
		if sum.sawLayers {
			fmt.Fprintf(o.out, "Status: Downloaded newer image for %s\n", display)
		} else {
			fmt.Fprintf(o.out, "Status: Image is up to date for %s\n", display)
		}
	}
	if o.quiet || !o.push {
		fmt.Fprintln(o.out, display)
	}
	return nil
}

// pullImage pulls ref writing progress to w, as `run` does on a missing image.
func pullImage(ctx context.Context, c *wharf.Client, ref string, w io.Writer, tty bool) error {
	return transferImage(ctx, c, ref, transferOptions{out: w, tty: tty})
}

// progressSummary records what a stream contained, for the closing lines.
type progressSummary struct {
	sawStatus bool // a "Status: ..." line came from the daemon
	sawLayers bool // at least one per-layer message came
}

// renderProgress feeds every message of a JSON progress stream to r and
// returns the first error a message carries.
func renderProgress(src io.Reader, r progressRenderer) (progressSummary, error) {
	var sum progressSummary
	dec := json.NewDecoder(src)
	for {
		var m wharf.ProgressMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return sum, nil
			}
			return sum, fmt.Errorf("reading progress: %v", err)
		}
		if m.Error != "" {
			return sum, errors.New(m.Error)
		}
		if m.ID == "" && strings.HasPrefix(m.Status, "Status:") {
			sum.sawStatus = true
		}
		if m.ID != "" && !isTagLine(m) {
			sum.sawLayers = true
		}
		r.handle(m)
	}
}

// isTagLine reports messages like "latest: Pulling from library/alpine",
// which carry the tag in ID and are not about a layer.
func isTagLine(m wharf.ProgressMessage) bool {
	return strings.HasPrefix(m.Status, "Pulling from ") || strings.HasPrefix(m.Status, "digest: ")
}

// discardProgress renders nothing (-q).
type discardProgress struct{}

func (discardProgress) handle(wharf.ProgressMessage) {}
func (discardProgress) finish()                      {}

// plainProgress prints docker's non-terminal lines ("<id>: Pull complete");
// byte-count updates are dropped as docker drops them without a terminal.
type plainProgress struct{ out io.Writer }

func (p *plainProgress) handle(m wharf.ProgressMessage) {
	if m.ProgressDetail != nil && (m.ProgressDetail.Current > 0 || m.ProgressDetail.Total > 0) {
		return
	}
	if m.Status == "" {
		return
	}
	if m.ID != "" {
		fmt.Fprintf(p.out, "%s: %s\n", m.ID, m.Status)
		return
	}
	fmt.Fprintln(p.out, m.Status)
}

func (p *plainProgress) finish() {}

// barProgress draws one bar per layer on a terminal.
type barProgress struct {
	p    *mpb.Progress
	bars map[string]*layerBar
}

// layerBar is one layer's bar and the status text its decorator shows;
// the decorator runs on mpb's goroutine, hence the mutex.
type layerBar struct {
	bar *mpb.Bar
	mu  sync.Mutex
	// status is the last status text of the layer.
	status string
	// phase is the status that the byte counts belong to, so that a new
	// phase (Downloading → Extracting) restarts the bar.
	phase          string
	current, total int64
}

// newBarProgress draws on out. Auto-refresh is forced so that the final
// state is drawn even when out is not detected as a terminal.
func newBarProgress(out io.Writer) *barProgress {
	return &barProgress{
		p:    mpb.New(mpb.WithOutput(out), mpb.WithWidth(50), mpb.WithAutoRefresh()),
		bars: map[string]*layerBar{},
	}
}

// completedStatus reports statuses after which a layer needs no more work.
func completedStatus(s string) bool {
	switch s {
	case "Pull complete", "Already exists", "Pushed", "Layer already exists", "Mounted from", "Complete":
		return true
	}
	return strings.HasPrefix(s, "Mounted from ")
}

func (b *barProgress) handle(m wharf.ProgressMessage) {
	if m.ID == "" || isTagLine(m) {
		line := m.Status
		if m.ID != "" {
			line = m.ID + ": " + m.Status
		}
		_, _ = b.p.Write([]byte(line + "\n"))
		return
	}
	lb, ok := b.bars[m.ID]
	if !ok {
		lb = &layerBar{}
		id := m.ID
		lb.bar = b.p.AddBar(0,
			mpb.PrependDecorators(
				decor.Name(id+": "),
				decor.Any(func(decor.Statistics) string { return lb.text() }, decor.WCSyncSpaceR),
			),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return lb.counts() })),
		)
		b.bars[m.ID] = lb
	}
	lb.mu.Lock()
	lb.status = m.Status
	if d := m.ProgressDetail; d != nil && (d.Current > 0 || d.Total > 0) {
		if lb.phase != m.Status {
			lb.phase = m.Status
			lb.bar.SetCurrent(0)
		}
		lb.current, lb.total = d.Current, d.Total
		lb.mu.Unlock()
		if d.Total > 0 {
			lb.bar.SetTotal(d.Total, false)
		}
		lb.bar.SetCurrent(d.Current)
		return
	}
	lb.current, lb.total = 0, 0
	lb.mu.Unlock()
	if completedStatus(m.Status) && !lb.bar.Completed() {
		lb.bar.SetTotal(-1, true)
	}
}

func (lb *layerBar) text() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.status
}

func (lb *layerBar) counts() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.total <= 0 && lb.current <= 0 {
		return ""
	}
	if lb.total <= 0 {
		return units.HumanSize(float64(lb.current))
	}
	return units.HumanSize(float64(lb.current)) + "/" + units.HumanSize(float64(lb.total))
}

func (b *barProgress) finish() {
	for _, lb := range b.bars {
		if !lb.bar.Completed() {
			// Bars left open (an error, or a layer the daemon never
			// reported finished) stay on screen as they are.
			lb.bar.Abort(false)
		}
	}
	b.p.Wait()
}

// displayRef returns ref as docker prints it: with ":latest" added when it
// names neither a tag nor a digest.
func displayRef(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if strings.Contains(last, ":") {
		return ref
	}
	return ref + ":latest"
}
