package container

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	units "github.com/docker/go-units"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// LogConfig is a container's log driver and its options, Docker's
// HostConfig.LogConfig. A record written before containers had one holds
// an empty Type, which reads as json-file without options.
type LogConfig struct {
	Type   string            `json:",omitempty"`
	Config map[string]string `json:",omitempty"`
}

// The log drivers the engine has. Their logs are all written by the shim
// (runtime/logfile) and rotated by it within the driver's limits.
const (
	// LogDriverJSONFile is Docker's default: <id>-json.log in Docker's
	// json-file format, unbounded unless max-size is set.
	LogDriverJSONFile = "json-file"
	// LogDriverLocal keeps the log in a format of the engine's own
	// (json-file's lines today; no compression), bounded by default as
	// Docker's local driver is.
	LogDriverLocal = "local"
	// LogDriverNone keeps nothing; the output still reaches attached
	// streams.
	LogDriverNone = "none"
)

// Docker's local driver keeps 5 files of 20 MiB unless told otherwise.
const (
	localMaxSize  = 20 * 1024 * 1024
	localMaxFiles = 5
)

// DefaultLogConfig is the log configuration of containers created without
// one on a daemon that sets none: json-file, as in Docker, but bounded to
// 3 files of 10 MB so that a chatty container cannot fill the disk. It is
// what inspect shows, as a dockerd with these log-opts in daemon.json
// would.
func DefaultLogConfig() LogConfig {
	return LogConfig{Type: LogDriverJSONFile, Config: map[string]string{"max-size": "10m", "max-file": "3"}}
}

// WithLogDefault sets the log driver and options of containers created
// without a driver, and the options merged into those created with the
// same driver (dockerd's --log-driver and --log-opt). It must pass
// ValidateLogConfig.
func WithLogDefault(lc LogConfig) Option { return func(e *Engine) { e.logDefault = lc } }

// ValidateLogConfig checks a log configuration as dockerd does when a
// container is created, with dockerd's messages; what dockerd checks
// only when it starts the container's logger (values) is checked here
// too, so that a container that cannot log is never created. Options
// Docker has and the engine does not (compression, non-blocking mode,
// extra attributes) are refused rather than ignored.
func ValidateLogConfig(lc LogConfig) error {
	_, err := logLimits(lc)
	return err
}

// mergeLogDefault fills in the daemon's default as dockerd's
// mergeAndVerifyLogConfig does: the default driver when none is given,
// and the default options the request lacks when the driver is the
// default one.
func mergeLogDefault(lc *LogConfig, def LogConfig) {
	if lc.Type == "" {
		lc.Type = def.Type
	}
	cfg := maps.Clone(lc.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if lc.Type == def.Type {
		for k, v := range def.Config {
			if _, ok := cfg[k]; !ok {
				cfg[k] = v
			}
		}
	}
	lc.Config = cfg
}

// logLimits validates lc and returns the bounds of its log.
func logLimits(lc LogConfig) (logfile.Limits, error) {
	invalid := func(format string, args ...any) (logfile.Limits, error) {
		return logfile.Limits{}, fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
	}
	typ := lc.Type
	if typ == "" {
		typ = LogDriverJSONFile
	}
	if typ == LogDriverNone {
		return logfile.Limits{}, nil // dockerd accepts any option for none
	}
	opts := lc.Config
	switch mode := opts["mode"]; mode {
	case "", "blocking":
	case "non-blocking":
		return invalid("logger: logging mode non-blocking is not supported by this daemon: its log writes always block")
	default:
		return invalid("logger: logging mode not supported: %s", mode)
	}
	if _, ok := opts["max-buffer-size"]; ok {
		return invalid("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
	}
	var lim logfile.Limits
	switch typ {
	case LogDriverJSONFile:
		lim = logfile.Limits{MaxFiles: 1}
	case LogDriverLocal:
		lim = logfile.Limits{MaxSize: localMaxSize, MaxFiles: localMaxFiles}
	default:
		return invalid("logger: no log driver named '%s' is registered", typ)
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch k {
		case "mode", "max-size", "max-file", "compress":
		case "labels", "labels-regex", "env", "env-regex", "tag":
			return invalid("log opt '%s' is not supported by this daemon: entries carry no extra attributes", k)
		default:
			if typ == LogDriverLocal {
				return invalid("unknown log opt '%s' for log driver %s", k, typ)
			}
			return invalid("unknown log opt '%s' for %s log driver", k, typ)
		}
	}
	sizeSet := false
	if v, ok := opts["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		switch {
		case err != nil && typ == LogDriverLocal:
			return invalid("invalid value for max-size: %s: %v", v, err)
		case err != nil:
			return invalid("%v", err)
		case typ == LogDriverJSONFile && n <= 0:
			return invalid("max-size must be a positive number")
		case n < 0:
			return invalid("max-size must not be negative")
		}
		lim.MaxSize, sizeSet = n, true
		if n == 0 {
			// local's max-size 0 rotates before every entry.
			lim.MaxSize = 1
		}
	}
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil && typ == LogDriverLocal:
			return invalid("invalid value for max-file: %s: %v", v, err)
		case err != nil:
			return invalid("%v", err)
		case typ == LogDriverJSONFile && n < 1:
			return invalid("max-file cannot be less than 1")
		case n < 0:
			return invalid("max-file must not be negative")
		}
		lim.MaxFiles = max(n, 1)
	}
	if v, ok := opts["compress"]; ok {
		on, err := strconv.ParseBool(v)
		switch {
		case err != nil && typ == LogDriverLocal:
			return invalid("invalid boolean value for compress: %v", err)
		case err != nil:
			return invalid("%v", err)
		case on && typ == LogDriverJSONFile && (lim.MaxFiles == 1 || !sizeSet):
			return invalid("compress cannot be true when max-file is less than 2 or max-size is not set")
		case on && lim.MaxFiles <= 1:
			return invalid("compression cannot be enabled when max file count is 1")
		case on:
			return invalid("log opt 'compress' is not supported by this daemon: rotated log files are kept uncompressed")
		}
	}
	return lim, nil
}

// logFile returns where c's log is written and its bounds; the path is
// empty when nothing is kept. The layout is Docker's: json-file next to
// the record, local in a directory of its own.
func (e *Engine) logFile(c *Container) (string, logfile.Limits, error) {
	lim, err := logLimits(c.HostConfig.LogConfig)
	if err != nil {
		return "", lim, err
	}
	switch c.HostConfig.LogConfig.Type {
	case LogDriverNone:
		return "", lim, nil
	case LogDriverLocal:
		return filepath.Join(e.dir(c.ID), "local-logs", "container.log"), lim, nil
	}
	return e.jsonLogPath(c.ID), lim, nil
}

// prepareLog makes the directory c's log goes in and returns the log's
// path and bounds (an empty path when nothing is kept).
func (e *Engine) prepareLog(c *Container) (string, logfile.Limits, error) {
	path, lim, err := e.logFile(c)
	if err != nil || path == "" {
		return path, lim, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", lim, err
	}
	return path, lim, nil
}

// errLogsNotReadable is dockerd's answer to reading the log of a container
// whose driver keeps none.
var errLogsNotReadable = fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
