package logsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Retention holds the retention of each log group (PutRetentionPolicy),
// in one file: <dir>/retention.json, {"<group>": <days>, ...}. The API
// leaves out events older than a group's retention at once; the rotation
// of the group's log file drops them from disk (logfile.SetRetention).
type Retention struct {
	path string
	mu   sync.Mutex
	days map[string]int
}

// validDays are the retentions CloudWatch Logs accepts.
var validDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// maxGroups bounds the groups with a retention.
const maxGroups = 10000

// OpenRetention reads the retentions kept in dir.
func OpenRetention(dir string) (*Retention, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &Retention{path: filepath.Join(dir, "retention.json"), days: map[string]int{}}
	data, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &r.days); err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	return r, nil
}

// Days returns a group's retention (0: never expire).
func (r *Retention) Days(group string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.days[group]
}

// Set sets (days > 0) or removes (0) a group's retention, and tells the
// rotation of its log file when it has one.
func (r *Retention) Set(g Group, days int) error {
	if days != 0 && !slices.Contains(validDays, days) {
		return fmt.Errorf("1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: %v: %w", days, validDays, errdefs.ErrInvalidArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.days[g.Name]; !ok && days != 0 && len(r.days) >= maxGroups {
		return fmt.Errorf("more than %d log groups with a retention: %w", maxGroups, errdefs.ErrInvalidArgument)
	}
	next := maps(r.days)
	if days == 0 {
		delete(next, g.Name)
	} else {
		next[g.Name] = days
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.path, data, 0o600); err != nil {
		return err
	}
	r.days = next
	if g.LogPath != "" {
		return logfile.SetRetention(g.LogPath, days)
	}
	return nil
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
