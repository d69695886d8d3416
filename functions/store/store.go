// Package store keeps wharf's functions: their records ($LATEST, the
// published versions, the aliases, the reserved concurrency), the checks
// of a configuration against Lambda's limits, and the zip code packages.
// It runs nothing; functions/invoke serves invocations over it.
//
// On disk, under <root> (the daemon's <root>/functions, 0700: nothing in
// it is for other users of the host):
//
//	fn/<name>.json        a function's record (record below), written with
//	                      internal/atomicfile
//	code/                 zip code packages (code.go)
//	logs/<name>.log       the function's log, written by functions/invoke
//	                      (LogPath), rotated to <name>.log.1, .2; removed,
//	                      every rotated file too, with the function
//	keys.json             access keys (identity)
//	triggers.json         routes and schedules (functions/trigger)
//	spool/                request bodies being received (server/lambdaapi)
//
// A record that does not parse when the store opens (a disk that lost it,
// a person's edit) is set aside as <name>.json.corrupt-<time> and logged;
// the other functions are served.
//
// The state of a function's $LATEST:
//
//	Create/SetCode ──> Pending ──> Active   (a zip with an executable bootstrap, or a pinned image)
//	                      │  └───> Failed   (no bootstrap: InvalidEntrypoint; image not pulled: InvalidImage)
//	                      └─ an image still to be pulled stays Pending until FinishPull
//
// A record is written Pending before its package is checked, so a daemon
// that stops between the two finishes the check when the store opens
// again; an image function still to be pulled is listed by AwaitingImage
// for its owner to pull again. Only an Active $LATEST is published and
// invoked. Published versions are snapshots of $LATEST, never changed;
// aliases name $LATEST or a version; reserved concurrency belongs to the
// function, whichever qualifier it is read through.
package store

import (
	"crypto/rand"
	"encoding/hex"
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

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Store is the set of functions on disk. It is safe for concurrent use.
type Store struct {
	root     string
	log      *slog.Logger
	now      func() time.Time
	onChange func(Change)

	mu  sync.Mutex
	fns map[string]*record
	// codeMu serialises the unpacking of code packages, so that two
	// uploads of the same package never replace each other's directory.
	codeMu sync.Mutex
}

// record is everything kept about one function.
type record struct {
	Latest      functions.Config
	Versions    map[string]functions.Config // published versions, immutable
	Aliases     map[string]functions.Alias
	NextVersion int
}

// A Change says that the sandboxes of a function's version no longer run
// its current code or configuration.
type Change struct {
	Function string
	// Version is $LATEST after an update, a version number after that
	// version's deletion, and "" after the whole function's.
	Version string
	// Latest is $LATEST after an update; nil after a deletion.
	Latest *functions.Config
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the store's logger.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithClock sets the clock LastModified is taken from.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithChanges calls fn after every change that retires sandboxes (see
// Change). fn runs with the store locked, so that nothing changes the
// function again before it is done: it must not call the Store, and work
// that waits belongs in a goroutine of its own, which may call IfCurrent.
func WithChanges(fn func(Change)) Option { return func(s *Store) { s.onChange = fn } }

// Open opens the store under root, creating it if needed, and finishes
// the checks a stopped daemon left Pending.
func Open(root string, opts ...Option) (*Store, error) {
	s := &Store{root: root, log: slog.Default(), now: time.Now, fns: map[string]*record{}}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	// A root made by an older daemon may be 0755: its code, records and
	// logs are not for other users of the host.
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, err
	}
	for _, d := range []string{"code", "fn", "logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	removeTemps(filepath.Join(root, "code"))
	removeTemps(filepath.Join(root, "fn"))
	ents, err := os.ReadDir(filepath.Join(root, "fn"))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(root, "fn", e.Name())
		r, err := readRecord(p, strings.TrimSuffix(e.Name(), ".json"))
		if errors.Is(err, errdefs.ErrInvalidArgument) {
			moved, merr := atomicfile.SetAside(p, time.Now())
			s.log.Error("function record is damaged; it was set aside and the function is not served", "file", p, "moved_to", moved, "err", err, "set_aside_err", merr)
			continue
		}
		if err != nil {
			return nil, err
		}
		s.fns[r.Latest.FunctionName] = r
	}
	// The packages functions use are unpacked completely before any
	// sandbox mounts them.
	for name, r := range s.fns {
		for _, c := range r.sortedVersions() {
			if h := codeHex(&c); c.PackageType == functions.PackageZip && h != "" {
				if err := s.ensureCode(h, nil); err != nil {
					s.log.Error("function code package cannot be restored", "function", name, "version", c.Version, "err", err)
				}
			}
		}
	}
	// Functions left Pending by a daemon that stopped mid-create finish
	// now, but for images still to be pulled (AwaitingImage).
	s.mu.Lock()
	for _, r := range s.fns {
		if r.Latest.State == functions.StatePending && !awaitingImage(&r.Latest) {
			s.finishPendingLocked(r)
		}
	}
	s.mu.Unlock()
	return s, nil
}

// readRecord reads the record of function name; one that does not parse,
// or names another function, is ErrInvalidArgument.
func readRecord(p, name string) (*record, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if r.Latest.FunctionName != name || !functions.ValidName(name, "") {
		return nil, fmt.Errorf("the record is of function %q: %w", r.Latest.FunctionName, errdefs.ErrInvalidArgument)
	}
	if r.Versions == nil {
		r.Versions = map[string]functions.Config{}
	}
	if r.Aliases == nil {
		r.Aliases = map[string]functions.Alias{}
	}
	return &r, nil
}

// removeTemps removes the temporary files and directories a crash left
// in dir (atomicfile's, and those of daemons before it: "*.tmp",
// ".unzip-*").
func removeTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if n := e.Name(); atomicfile.IsTemp(n) || strings.HasSuffix(n, ".tmp") || strings.HasPrefix(n, ".unzip-") {
			_ = os.RemoveAll(filepath.Join(dir, n))
		}
	}
}

// LogPath is where the log of function name is written; rotated files
// get .1, .2, ... after it.
func (s *Store) LogPath(name string) string { return filepath.Join(s.root, "logs", name+".log") }

func (s *Store) recordPath(name string) string { return filepath.Join(s.root, "fn", name+".json") }

func (s *Store) saveLocked(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.recordPath(r.Latest.FunctionName), data, 0o600)
}

// changed tells the store's owner about c (see WithChanges); the caller
// holds s.mu.
func (s *Store) changed(c Change) {
	if s.onChange != nil {
		s.onChange(c)
	}
}

func newRevision() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hasBootstrap reports whether an unpacked package can start a custom
// runtime: an executable `bootstrap` at its root.
func hasBootstrap(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// awaitingImage reports whether c is an image function whose image is
// still to be pulled.
func awaitingImage(c *functions.Config) bool {
	return c.PackageType == functions.PackageImage && c.ImageID == ""
}

func (s *Store) getLocked(name string) (*record, error) {
	r, ok := s.fns[name]
	if !ok {
		return nil, fmt.Errorf("Function not found: %s: %w", functions.FunctionArn(name), errdefs.ErrNotFound)
	}
	return r, nil
}

// resolve returns the configuration a qualifier names, "" or $LATEST, a
// version number, or an alias, with the function's reserved concurrency,
// and the version it is.
func (r *record) resolve(qualifier string) (functions.Config, string, error) {
	var c functions.Config
	var version string
	switch {
	case qualifier == "" || qualifier == functions.LatestVersion:
		c, version = r.Latest, functions.LatestVersion
	case functions.IsVersion(qualifier):
		v, ok := r.Versions[qualifier]
		if !ok {
			return functions.Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
		}
		c, version = v, qualifier
	default:
		a, ok := r.Aliases[qualifier]
		if !ok {
			return functions.Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
		}
		return r.resolve(a.FunctionVersion)
	}
	return r.view(c), version, nil
}

// view is c as callers get it: sharing nothing with the record (versions
// stay immutable whatever a caller does with it), with the function's
// reserved concurrency.
func (r *record) view(c functions.Config) functions.Config {
	c.Architectures = append([]string(nil), c.Architectures...)
	if c.Environment != nil {
		env := make(map[string]string, len(c.Environment))
		for k, v := range c.Environment {
			env[k] = v
		}
		c.Environment = env
	}
	c.ImageConfig = copyImageConfig(c.ImageConfig)
	c.ReservedConcurrency = nil
	if n := r.Latest.ReservedConcurrency; n != nil {
		v := *n
		c.ReservedConcurrency = &v
	}
	return c
}

func (r *record) sortedVersions() []functions.Config {
	out := []functions.Config{r.Latest}
	var nums []int
	for v := range r.Versions {
		n, _ := strconv.Atoi(v)
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		out = append(out, r.Versions[strconv.Itoa(n)])
	}
	return out
}
