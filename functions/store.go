package functions

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
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// store keeps functions on disk under <root>/functions (0700: nothing in
// it is for other users of the host):
//
//	keys.json                 access keys (package auth)
//	triggers.json             routes and schedules (package trigger)
//	code/                     code packages (code.go)
//	fn/<name>.json            a function's record (record below), written atomically
//	logs/<name>.log           the function's log (START, output, END, REPORT lines),
//	                          rotated to <name>.log.1, .2 (see WithLogLimits);
//	                          removed, every rotated file too, with the function
//
// Every record is written with internal/atomicfile. A record that does not
// parse when the store opens (a disk that lost it, a person's edit) is set
// aside as <name>.json.corrupt-<time> and logged; the other functions are
// served.
type store struct {
	root string
	log  *slog.Logger
	mu   sync.Mutex
	fns  map[string]*record
	// codeMu serialises the unpacking of code packages, so that two
	// uploads of the same package never replace each other's directory.
	codeMu sync.Mutex
}

// record is everything kept about one function.
type record struct {
	Latest      Config
	Versions    map[string]Config // published versions, immutable
	Aliases     map[string]Alias
	NextVersion int
}

var validName = nameMatcher(func(s string) bool { return ValidName(s, "") })

func openStore(root string, log *slog.Logger) (*store, error) {
	s := &store{root: root, log: log, fns: map[string]*record{}}
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
			log.Error("function record is damaged; it was set aside and the function is not served", "file", p, "moved_to", moved, "err", err, "set_aside_err", merr)
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
			if c.PackageType != PackageZip {
				continue
			}
			if h := codeHex(&c); h != "" {
				if err := s.ensureCode(h, nil); err != nil {
					log.Error("function code package cannot be restored", "function", name, "version", c.Version, "err", err)
				}
			}
		}
	}
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
	if r.Latest.FunctionName != name || !validName.MatchString(name) {
		return nil, fmt.Errorf("the record is of function %q: %w", r.Latest.FunctionName, errdefs.ErrInvalidArgument)
	}
	if r.Versions == nil {
		r.Versions = map[string]Config{}
	}
	if r.Aliases == nil {
		r.Aliases = map[string]Alias{}
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

func (s *store) saveLocked(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.root, "fn", r.Latest.FunctionName+".json"), data, 0o600)
}

func functionArn(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", DefaultRegion, DefaultAccount, name)
}

func newRevision() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ParseName splits a function name given as a name, a full ARN or a
// partial ARN (account:function:name), optionally with ":qualifier".
func ParseName(s string) (name, qualifier string, err error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1:
		name = parts[0]
	case len(parts) == 2:
		name, qualifier = parts[0], parts[1]
	case strings.HasPrefix(s, "arn:aws:lambda:") && (len(parts) == 7 || len(parts) == 8) && parts[5] == "function":
		name = parts[6]
		if len(parts) == 8 {
			qualifier = parts[7]
		}
	case len(parts) == 3 && parts[1] == "function", len(parts) == 4 && parts[1] == "function":
		name = parts[2]
		if len(parts) == 4 {
			qualifier = parts[3]
		}
	default:
		return "", "", fmt.Errorf("invalid function name %q: %w", s, errdefs.ErrInvalidArgument)
	}
	if !validName.MatchString(name) {
		return "", "", fmt.Errorf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?: %w", s, errdefs.ErrInvalidArgument)
	}
	return name, qualifier, nil
}

// validate checks a configuration against Lambda's limits and fills in
// its defaults.
func validate(c *Config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeoutSec
	}
	if c.MemorySize == 0 {
		c.MemorySize = DefaultMemoryMB
	}
	if c.EphemeralStorage == 0 {
		c.EphemeralStorage = MinEphemeralMB
	}
	if len(c.Architectures) == 0 {
		c.Architectures = []string{ArchX8664}
	}
	if c.PackageType == "" {
		c.PackageType = PackageZip
	}
	switch {
	case c.Timeout < MinTimeoutSec || c.Timeout > MaxTimeoutSec:
		return bad("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between %d and %d", c.Timeout, MinTimeoutSec, MaxTimeoutSec)
	case c.MemorySize < MinMemoryMB || c.MemorySize > MaxMemoryMB:
		return bad("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between %d and %d", c.MemorySize, MinMemoryMB, MaxMemoryMB)
	case c.EphemeralStorage < MinEphemeralMB || c.EphemeralStorage > MaxEphemeralMB:
		return bad("ephemeral storage must be between %d and %d MB", MinEphemeralMB, MaxEphemeralMB)
	case len(c.Architectures) != 1 || c.Architectures[0] != ArchX8664:
		return bad("unsupported architectures %v: this host runs x86_64", c.Architectures)
	}
	switch c.PackageType {
	case PackageZip:
		ok := false
		for _, r := range Runtimes {
			ok = ok || c.Runtime == r
		}
		if !ok {
			return bad("The runtime parameter of %s is not supported by this daemon; use one of %s", c.Runtime, strings.Join(Runtimes, ", "))
		}
		if c.ImageConfig != nil {
			return bad("ImageConfig is only supported for functions of PackageType Image")
		}
	case PackageImage:
		if c.Runtime != "" || c.Handler != "" {
			return bad("Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
		}
		if err := validateImageConfig(c.ImageConfig); err != nil {
			return err
		}
	default:
		return bad("invalid PackageType %q", c.PackageType)
	}
	for k := range c.Environment {
		if strings.HasPrefix(k, "AWS_LAMBDA_") || k == "_HANDLER" || k == "LAMBDA_TASK_ROOT" || k == "LAMBDA_RUNTIME_DIR" {
			return bad("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", k)
		}
	}
	return nil
}

// hasBootstrap reports whether an unpacked package can start a custom
// runtime: an executable `bootstrap` at its root.
func hasBootstrap(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func (s *store) get(name string) (*record, error) {
	r, ok := s.fns[name]
	if !ok {
		return nil, fmt.Errorf("Function not found: %s: %w", functionArn(name), errdefs.ErrNotFound)
	}
	return r, nil
}

// resolve returns the configuration a qualifier names: "" or $LATEST, a
// version number, or an alias.
func (r *record) resolve(qualifier string) (Config, string, error) {
	switch {
	case qualifier == "" || qualifier == LatestVersion:
		return r.Latest, LatestVersion, nil
	case isNumber(qualifier):
		c, ok := r.Versions[qualifier]
		if !ok {
			return Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
		}
		return c, qualifier, nil
	default:
		a, ok := r.Aliases[qualifier]
		if !ok {
			return Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
		}
		return r.resolve(a.FunctionVersion)
	}
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}

func (r *record) sortedVersions() []Config {
	out := []Config{r.Latest}
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
