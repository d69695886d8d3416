package store

import (
	"fmt"
	"path"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// Lambda's limits on ImageConfig.
const (
	maxImageConfigItems = 1500
	maxWorkingDirectory = 1000
)

// Validate checks a new function's configuration against Lambda's limits
// and fills in its defaults. Errors are ErrInvalidArgument, worded as
// Lambda words them.
func Validate(c *functions.Config) error {
	if !functions.ValidName(c.FunctionName, "") {
		return fmt.Errorf("invalid function name %q: %w", c.FunctionName, errdefs.ErrInvalidArgument)
	}
	return validate(c)
}

// validate checks a configuration and fills in its defaults.
func validate(c *functions.Config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if c.Timeout == 0 {
		c.Timeout = functions.DefaultTimeoutSec
	}
	if c.MemorySize == 0 {
		c.MemorySize = functions.DefaultMemoryMB
	}
	if c.EphemeralStorage == 0 {
		c.EphemeralStorage = functions.MinEphemeralMB
	}
	if len(c.Architectures) == 0 {
		c.Architectures = []string{functions.ArchX8664}
	}
	if c.PackageType == "" {
		c.PackageType = functions.PackageZip
	}
	switch {
	case c.Timeout < functions.MinTimeoutSec || c.Timeout > functions.MaxTimeoutSec:
		return bad("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between %d and %d", c.Timeout, functions.MinTimeoutSec, functions.MaxTimeoutSec)
	case c.MemorySize < functions.MinMemoryMB || c.MemorySize > functions.MaxMemoryMB:
		return bad("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between %d and %d", c.MemorySize, functions.MinMemoryMB, functions.MaxMemoryMB)
	case c.EphemeralStorage < functions.MinEphemeralMB || c.EphemeralStorage > functions.MaxEphemeralMB:
		return bad("ephemeral storage must be between %d and %d MB", functions.MinEphemeralMB, functions.MaxEphemeralMB)
	case len(c.Architectures) != 1 || c.Architectures[0] != functions.ArchX8664:
		return bad("unsupported architectures %v: this host runs x86_64", c.Architectures)
	}
	switch c.PackageType {
	case functions.PackageZip:
		ok := false
		for _, r := range functions.Runtimes {
			ok = ok || c.Runtime == r
		}
		if !ok {
			return bad("The runtime parameter of %s is not supported by this daemon; use one of %s", c.Runtime, strings.Join(functions.Runtimes, ", "))
		}
		if c.ImageConfig != nil {
			return bad("ImageConfig is only supported for functions of PackageType Image")
		}
	case functions.PackageImage:
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

func validateImageConfig(ic *functions.ImageConfig) error {
	if ic == nil {
		return nil
	}
	switch {
	case len(ic.EntryPoint) > maxImageConfigItems:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.entryPoint' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxImageConfigItems, errdefs.ErrInvalidArgument)
	case len(ic.Command) > maxImageConfigItems:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.command' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxImageConfigItems, errdefs.ErrInvalidArgument)
	case len(ic.WorkingDirectory) > maxWorkingDirectory:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.workingDirectory' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxWorkingDirectory, errdefs.ErrInvalidArgument)
	case ic.WorkingDirectory != "" && !path.IsAbs(ic.WorkingDirectory):
		return fmt.Errorf("ImageConfig.WorkingDirectory %q must be an absolute path: %w", ic.WorkingDirectory, errdefs.ErrInvalidArgument)
	}
	return nil
}

// copyImageConfig returns a copy that shares nothing with ic (nil for an
// empty one), so versions never share mutable state with $LATEST.
func copyImageConfig(ic *functions.ImageConfig) *functions.ImageConfig {
	if ic == nil || len(ic.EntryPoint) == 0 && len(ic.Command) == 0 && ic.WorkingDirectory == "" {
		return nil
	}
	return &functions.ImageConfig{
		EntryPoint:       append([]string(nil), ic.EntryPoint...),
		Command:          append([]string(nil), ic.Command...),
		WorkingDirectory: ic.WorkingDirectory,
	}
}
