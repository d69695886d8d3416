package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
)

// defaultPath is the PATH of images that set none, as BuildKit's.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Builder runs builds. It is safe for concurrent use; builds share the
// cache.
type Builder struct {
	root       string
	images     Images
	containers Containers
	log        *slog.Logger
	index      *fileIndex
	// locks serialises users of a cache mount with sharing=locked.
	locks sync.Map // cache dir -> *sync.Mutex
	// now is the clock of history entries (tests fix it).
	now func() time.Time
	// synced are the contexts clients keep in step (sync.go).
	synced syncedContexts
}

// Option configures a Builder.
type Option func(*Builder)

// WithLogger sets the builder's logger.
func WithLogger(l *slog.Logger) Option { return func(b *Builder) { b.log = l } }

// New returns a builder keeping its files under root (doc.go).
func New(root string, images Images, containers Containers, opts ...Option) (*Builder, error) {
	b := &Builder{root: root, images: images, containers: containers, log: slog.Default(), index: newFileIndex(1 << 20), now: time.Now}
	for _, o := range opts {
		o(b)
	}
	if err := os.RemoveAll(b.tmp()); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	for _, d := range []string{b.tmp(), filepath.Join(root, "cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	return b, nil
}

func (b *Builder) tmp() string { return filepath.Join(b.root, "tmp") }

// state is a stage's image as far as it is built.
type state struct {
	cfg    *v1.ConfigFile
	layers []store.Layer
	key    string
	// image is a committed image holding exactly this state, if any.
	image string
	// cmdSet says CMD was set in this stage (ENTRYPOINT then keeps it).
	cmdSet bool
	// steps are the layer steps so far, for the image's inline cache.
	steps []inlineStep
}

func (s *state) clone() *state {
	c := *s
	c.cfg = s.cfg.DeepCopy()
	c.layers = append([]store.Layer(nil), s.layers...)
	c.steps = append([]inlineStep(nil), s.steps...)
	return &c
}

func (s *state) topChain() string {
	if len(s.layers) == 0 {
		return ""
	}
	return s.layers[len(s.layers)-1].ChainID
}

// job is one Build call.
type job struct {
	b       *Builder
	o       Options
	df      *dockerfile
	epoch   *time.Time
	results []*stageResult
	global  *argEnv
	mu      sync.Mutex
	report  func(Event)
	// secrets are files holding Options.Secrets, made on first use.
	secretDir string
	// cacheFrom are the --cache-from images, read on first use.
	cacheFromOnce sync.Once
	cacheFrom     []cacheSource
}

type stageResult struct {
	done chan struct{}
	st   *state
	err  error
}

// Build builds o's Dockerfile and returns the image. Events reach report
// (from several goroutines, one at a time) as the build goes. A Dockerfile
// error is reported before anything runs; on any error no tag is moved.
func (b *Builder) Build(ctx context.Context, o Options, report func(Event)) (*Result, error) {
	if report == nil {
		report = func(Event) {}
	}
	if o.Context == nil {
		return nil, fmt.Errorf("build: no context: %w", errdefs.ErrInvalidArgument)
	}
	name := o.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	src := o.DockerfileContent
	if src == nil {
		var err error
		if src, err = o.Context.readFile(name, maxDockerfile); err != nil {
			if errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("Cannot locate specified Dockerfile: %s: %w", name, errdefs.ErrInvalidArgument)
			}
			return nil, err
		}
	}
	for _, t := range o.Tags {
		if err := validTag(t); err != nil {
			return nil, err
		}
	}
	df, err := parseDockerfile(filepath.Base(name), src, o.BuildArgs)
	if err != nil {
		return nil, err
	}
	target, err := df.target(o.Target)
	if err != nil {
		return nil, err
	}
	if err := o.Context.loadIgnore(name); err != nil {
		return nil, err
	}
	j := &job{b: b, o: o, df: df, results: make([]*stageResult, len(df.stages)), global: df.globalArgs(o.BuildArgs)}
	j.report = func(e Event) {
		e.Total = df.steps
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		report(e)
	}
	if v, ok := o.BuildArgs["SOURCE_DATE_EPOCH"]; ok && v != nil && *v != "" {
		sec, err := strconv.ParseInt(*v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: %w", *v, errdefs.ErrInvalidArgument)
		}
		t := time.Unix(sec, 0).UTC()
		j.epoch = &t
	}
	defer j.cleanup()

	need := df.needed(target)
	for i := range df.stages {
		j.results[i] = &stageResult{done: make(chan struct{})}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range df.stages {
		if !need[i] {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := j.results[i]
			r.st, r.err = j.buildStage(ctx, df.stages[i])
			if r.err != nil {
				cancel() // the first failure stops the other stages
			}
			close(r.done)
		}(i)
	}
	wg.Wait()
	var firstErr error
	for i := range df.stages {
		if r := j.results[i]; need[i] && r.err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
			firstErr = r.err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	img, err := j.final(ctx, j.results[target].st)
	if err != nil {
		return nil, err
	}
	var tagged []string
	for _, t := range o.Tags {
		if err := b.images.Tag(ctx, img, t); err != nil {
			return nil, err
		}
		tagged = append(tagged, t)
	}
	return &Result{ImageID: img, Tags: tagged}, nil
}

func (j *job) cleanup() {
	if j.secretDir != "" {
		os.RemoveAll(j.secretDir)
	}
}

// validTag checks a -t value before the build starts.
func validTag(t string) error {
	if t == "" || strings.ContainsAny(t, " \t\n") || strings.HasPrefix(t, "sha256:") {
		return fmt.Errorf("invalid reference format: %q: %w", t, errdefs.ErrInvalidArgument)
	}
	return nil
}

// wait returns the result of stage i once it is built.
func (j *job) wait(ctx context.Context, i int) (*state, error) {
	r := j.results[i]
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("stage %d failed: %w", i, r.err)
	}
	return r.st.clone(), nil
}

// created is the time of a new history entry or image.
func (j *job) created() time.Time {
	if j.epoch != nil {
		return *j.epoch
	}
	return j.b.now().UTC()
}

// final commits the target's image with the --label values, or finds it
// committed by an earlier build of the same inputs.
func (j *job) final(ctx context.Context, st *state) (string, error) {
	labels := make([]string, 0, len(j.o.Labels))
	for k, v := range j.o.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	key := chainKey(st.key, "final", labels)
	if len(labels) > 0 {
		if st.cfg.Config.Labels == nil {
			st.cfg.Config.Labels = map[string]string{}
		}
		for k, v := range j.o.Labels {
			st.cfg.Config.Labels[k] = v
		}
	}
	return j.commit(ctx, st, key, false)
}

// commit returns an image holding st: the one an earlier build committed
// under key, or a new one.
func (j *job) commit(ctx context.Context, st *state, key string, buildCache bool) (string, error) {
	ik := imageKey(key)
	if !j.o.NoCache {
		// A final image found here was committed without the build-cache
		// mark, and a later commit of the same config never adds it.
		if rec, ok := j.b.images.CacheGet(ctx, ik); ok && rec.Image != "" {
			return rec.Image, nil
		}
	}
	cfg := st.cfg.DeepCopy()
	cfg.Created = v1.Time{Time: j.created()}
	cfg.RootFS = v1.RootFS{Type: "layers"}
	for _, l := range st.layers {
		h, err := v1.NewHash(l.DiffID)
		if err != nil {
			return "", err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, h)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	if !buildCache {
		if raw, err = withInlineCache(raw, st.steps); err != nil {
			return "", err
		}
	}
	img, err := j.b.images.Commit(ctx, raw, st.layers, store.CommitOptions{BuildCache: buildCache})
	if err != nil {
		return "", err
	}
	if err := j.b.images.CachePut(ctx, store.CacheRecord{Key: ik, Image: img.ID, Created: cfg.Created.Time, Description: "image"}); err != nil {
		return "", err
	}
	return img.ID, nil
}

// ensureImage makes sure st is a committed image (a RUN step's container
// needs one) and returns it.
func (j *job) ensureImage(ctx context.Context, st *state) (string, error) {
	if st.image != "" {
		return st.image, nil
	}
	id, err := j.commit(ctx, st, st.key, true)
	if err != nil {
		return "", err
	}
	st.image = id
	return id, nil
}

// stageLabel is BuildKit's name for a stage in progress lines.
func (s *stage) label(df *dockerfile) string {
	n := len(s.cmds) + 1
	name := s.name
	if name == "" && len(df.stages) > 1 {
		name = "stage-" + strconv.Itoa(s.index)
	}
	if name == "" {
		return "%d/" + strconv.Itoa(n)
	}
	return name + " %d/" + strconv.Itoa(n)
}

func (j *job) stepName(s *stage, i int, text string) string {
	return "[" + fmt.Sprintf(s.label(j.df), i+1) + "] " + text
}
