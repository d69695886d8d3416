package logsapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Event is one log event.
type Event struct {
	Stream  string
	Time    time.Time
	Message string
}

// Group is one log group.
type Group struct {
	Name    string
	Created time.Time
	Bytes   int64
	// LogPath is the file the group's events are written to (its
	// retention goes next to it), "" when it has none the daemon can set
	// a retention on.
	LogPath string
}

// StreamInfo is one log stream of a group.
type StreamInfo struct {
	Name             string
	Created          time.Time
	First, LastEvent time.Time
	Bytes            int64
}

// Source serves the log groups under one name prefix.
type Source interface {
	// Prefix is the prefix of the source's group names ("/aws/lambda/").
	Prefix() string
	// Groups lists the source's groups.
	Groups(ctx context.Context) ([]Group, error)
	// Group returns one group (errdefs.ErrNotFound if there is none).
	Group(ctx context.Context, name string) (Group, error)
	// Streams lists a group's streams.
	Streams(ctx context.Context, g Group) ([]StreamInfo, error)
	// Events calls each with the group's events in the order they were
	// written, oldest first, until each returns an error (which Events
	// returns).
	Events(ctx context.Context, g Group, each func(Event) error) error
}

func notFound(name string) error {
	return fmt.Errorf("The specified log group does not exist: %s: %w", name, errdefs.ErrNotFound)
}

// Containers is what the container source needs of the engine
// (container.Engine).
type Containers interface {
	List(ctx context.Context) []*container.Container
	Logs(ctx context.Context, ref string, o container.LogsOptions, emit func(logfile.Entry) error) error
	LogPath(id string) string
}

// ContainerSource serves /wharf/containers/NAME: a container's log, one
// stream named by the container's id.
type ContainerSource struct{ C Containers }

// ContainerPrefix is the prefix of containers' log groups.
const ContainerPrefix = "/wharf/containers/"

// Prefix implements Source.
func (s ContainerSource) Prefix() string { return ContainerPrefix }

func (s ContainerSource) group(c *container.Container) Group {
	g := Group{Name: ContainerPrefix + c.Name, Created: c.Created, LogPath: s.C.LogPath(c.ID)}
	if g.LogPath != "" {
		g.Bytes = logBytes(g.LogPath)
	}
	return g
}

// Groups implements Source: every container whose log driver keeps a log.
func (s ContainerSource) Groups(ctx context.Context) ([]Group, error) {
	var out []Group
	for _, c := range s.C.List(ctx) {
		if c.HostConfig.LogConfig.Type == container.LogDriverNone {
			continue
		}
		out = append(out, s.group(c))
	}
	return out, nil
}

// Group implements Source.
func (s ContainerSource) Group(ctx context.Context, name string) (Group, error) {
	cname, ok := strings.CutPrefix(name, ContainerPrefix)
	if !ok || cname == "" {
		return Group{}, notFound(name)
	}
	for _, c := range s.C.List(ctx) {
		if c.Name == cname && c.HostConfig.LogConfig.Type != container.LogDriverNone {
			return s.group(c), nil
		}
	}
	return Group{}, notFound(name)
}

func (s ContainerSource) id(ctx context.Context, g Group) (*container.Container, error) {
	cname := strings.TrimPrefix(g.Name, ContainerPrefix)
	for _, c := range s.C.List(ctx) {
		if c.Name == cname {
			return c, nil
		}
	}
	return nil, notFound(g.Name)
}

// Streams implements Source: the container's id.
func (s ContainerSource) Streams(ctx context.Context, g Group) ([]StreamInfo, error) {
	c, err := s.id(ctx, g)
	if err != nil {
		return nil, err
	}
	st := StreamInfo{Name: c.ID, Created: c.Created, First: c.State.StartedAt, Bytes: g.Bytes}
	if g.LogPath != "" {
		if fi, err := os.Stat(g.LogPath); err == nil {
			st.LastEvent = fi.ModTime()
		}
	}
	return []StreamInfo{st}, nil
}

// Events implements Source, through the reader of `wharf logs`.
func (s ContainerSource) Events(ctx context.Context, g Group, each func(Event) error) error {
	c, err := s.id(ctx, g)
	if err != nil {
		return err
	}
	return s.C.Logs(ctx, c.ID, container.LogsOptions{Stdout: true, Stderr: true, Tail: -1}, func(en logfile.Entry) error {
		return each(Event{Stream: c.ID, Time: en.Time, Message: strings.TrimSuffix(en.Log, "\n")})
	})
}

// Functions is what the function source needs of the functions engine
// (invoke.Engine).
type Functions interface {
	List(ctx context.Context) ([]*functions.Config, error)
	LogPath(name string) string
	ReadLog(ctx context.Context, name string, each func(logfile.Entry) error) error
}

// FunctionSource serves /aws/lambda/NAME: a function's log, one stream
// per sandbox.
type FunctionSource struct{ F Functions }

// FunctionPrefix is the prefix of functions' log groups, as Lambda's.
const FunctionPrefix = "/aws/lambda/"

// Prefix implements Source.
func (s FunctionSource) Prefix() string { return FunctionPrefix }

// Groups implements Source: every function.
func (s FunctionSource) Groups(ctx context.Context) ([]Group, error) {
	fns, err := s.F.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(fns))
	for _, f := range fns {
		p := s.F.LogPath(f.FunctionName)
		out = append(out, Group{Name: FunctionPrefix + f.FunctionName, Created: f.LastModified, LogPath: p, Bytes: logBytes(p)})
	}
	return out, nil
}

// Group implements Source.
func (s FunctionSource) Group(ctx context.Context, name string) (Group, error) {
	fname, ok := strings.CutPrefix(name, FunctionPrefix)
	if !ok || fname == "" {
		return Group{}, notFound(name)
	}
	gs, err := s.Groups(ctx)
	if err != nil {
		return Group{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, notFound(name)
}

// Streams implements Source: the streams found in the log, with the
// times of their first and last events.
func (s FunctionSource) Streams(ctx context.Context, g Group) ([]StreamInfo, error) {
	by := map[string]*StreamInfo{}
	err := s.Events(ctx, g, func(e Event) error {
		st := by[e.Stream]
		if st == nil {
			st = &StreamInfo{Name: e.Stream, Created: e.Time, First: e.Time}
			by[e.Stream] = st
		}
		st.LastEvent = e.Time
		st.Bytes += int64(len(e.Message))
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]StreamInfo, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Events implements Source. Lines of logs written before they held
// streams have none and are left out.
func (s FunctionSource) Events(ctx context.Context, g Group, each func(Event) error) error {
	name := strings.TrimPrefix(g.Name, FunctionPrefix)
	return s.F.ReadLog(ctx, name, func(en logfile.Entry) error {
		if en.Stream == "" {
			return nil
		}
		return each(Event{Stream: en.Stream, Time: en.Time, Message: strings.TrimSuffix(en.Log, "\n")})
	})
}

// logBytes is the size of a log with its rotated files.
func logBytes(path string) int64 {
	var n int64
	for i := 0; i < 1000; i++ {
		p := path
		if i > 0 {
			p = fmt.Sprintf("%s.%d", path, i)
		}
		fi, err := os.Stat(p)
		if err != nil {
			if i > 0 && errors.Is(err, os.ErrNotExist) {
				break
			}
			continue
		}
		n += fi.Size()
	}
	return n
}
