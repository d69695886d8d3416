package functions

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/wharf-dev/wharf/errdefs"
)

// store keeps functions on disk under <root>/functions:
//
//	keys.json                 access keys (package auth)
//	code/<sha256>.zip         a code package as uploaded (content-addressed)
//	code/<sha256>/            the same package unpacked, bind-mounted read-only at /var/task
//	fn/<name>.json            a function's record (record below), rewritten atomically
//	logs/<name>.log           the function's log (START, output, END, REPORT lines),
//	                          rotated to <name>.log.1, .2 (see WithLogLimits)
type store struct {
	root string
	mu   sync.Mutex
	fns  map[string]*record
}

// record is everything kept about one function.
type record struct {
	Latest      Config
	Versions    map[string]Config // published versions, immutable
	Aliases     map[string]Alias
	NextVersion int
}

var validName = nameMatcher(func(s string) bool { return ValidName(s, "") })

func openStore(root string) (*store, error) {
	s := &store{root: root, fns: map[string]*record{}}
	for _, d := range []string{"code", "fn", "logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, "fn"))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "fn", e.Name()))
		if err != nil {
			return nil, err
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("function record %s: %w", e.Name(), err)
		}
		s.fns[r.Latest.FunctionName] = &r
	}
	return s, nil
}

func (s *store) saveLocked(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.root, "fn", r.Latest.FunctionName+".json"), data)
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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

// putCode stores a zip package and unpacks it once; it returns its
// content address and Lambda's CodeSha256 (base64).
func (s *store) putCode(zipData []byte) (string, string, error) {
	if len(zipData) == 0 {
		return "", "", fmt.Errorf("code: ZipFile is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(zipData) > MaxZipSize {
		return "", "", fmt.Errorf("Unzipped size must be smaller than %d bytes: %w", MaxZipSize, ErrTooLarge)
	}
	sum := sha256.Sum256(zipData)
	hexSum := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	dir := filepath.Join(s.root, "code", hexSum)
	if _, err := os.Stat(dir); err == nil {
		return hexSum, b64, nil
	}
	if err := unzip(zipData, dir); err != nil {
		return "", "", err
	}
	if err := writeAtomic(filepath.Join(s.root, "code", hexSum+".zip"), zipData); err != nil {
		return "", "", err
	}
	return hexSum, b64, nil
}

// CodeDir is where the unpacked package of a code hash lives.
func (s *store) codeDir(hexSum string) string { return filepath.Join(s.root, "code", hexSum) }

// unzip unpacks a function package into dir (via a temp dir renamed into
// place, so a failed unpack leaves nothing). Entries can never land outside
// dir; sizes are bounded; file modes keep their execute bits.
func unzip(data []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("Could not unzip uploaded file. Please check your file, then try to upload again: %w", errdefs.ErrInvalidArgument)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unzip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var total int64
	for _, f := range zr.File {
		// Cleaning against "/" confines "../" and absolute names to the
		// package root; SecureJoin also resolves symlinks written earlier
		// inside tmp without leaving it.
		name := filepath.Clean("/" + f.Name)
		target, err := securejoin.SecureJoin(tmp, name)
		if err != nil {
			return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
		}
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		case mode&os.ModeSymlink != 0:
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
			}
			link, _ := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			// The link is kept as written; at run time it resolves inside
			// the sandbox's own root, never the host's.
			if err := os.Symlink(string(link), target); err != nil {
				return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
			}
			continue
		case !mode.IsRegular():
			return fmt.Errorf("zip entry %q: unsupported file type: %w", f.Name, errdefs.ErrInvalidArgument)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
		}
		perm := os.FileMode(0o644)
		if mode&0o111 != 0 {
			perm = 0o755
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			rc.Close()
			return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
		}
		n, err := io.Copy(out, io.LimitReader(rc, MaxUnzippedSize-total+1))
		rc.Close()
		out.Close()
		total += n
		if total > MaxUnzippedSize {
			return fmt.Errorf("Unzipped size must be smaller than %d bytes: %w", MaxUnzippedSize, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return fmt.Errorf("zip entry %q: %v: %w", f.Name, err, errdefs.ErrInvalidArgument)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(dir); statErr != nil {
			return err
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
