package sched

import (
	"fmt"

	"github.com/wharf-dev/wharf/errdefs"
)

// fargateSizes is Fargate's table of valid task sizes: for each task CPU
// (units), the memory sizes (MiB) it allows, as a range with a step.
var fargateSizes = []struct {
	cpu            int64
	min, max, step int64
}{
	{256, 512, 512, 1}, // 512 MiB, then 1 and 2 GiB below
	{256, 1024, 2048, 1024},
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

// ValidateFargate checks a task definition against what the FARGATE launch
// type accepts, with ECS's ClientException texts: task-level cpu and
// memory both set, to one of the combinations of Fargate's table, and the
// awsvpc network mode. Errors are of class errdefs.ErrInvalidArgument.
func ValidateFargate(td *TaskDef) error {
	if td.NetworkMode != NetworkAwsvpc {
		return fmt.Errorf("%w: Fargate only supports network mode 'awsvpc'.", errdefs.ErrInvalidArgument)
	}
	if td.CPU <= 0 {
		return fmt.Errorf("%w: Fargate requires that 'cpu' be defined at the task level.", errdefs.ErrInvalidArgument)
	}
	if td.Memory <= 0 {
		return fmt.Errorf("%w: Fargate requires that 'memory' be defined at the task level.", errdefs.ErrInvalidArgument)
	}
	if !FargateSizeValid(td.CPU, td.Memory) {
		return fmt.Errorf("%w: No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.",
			errdefs.ErrInvalidArgument, td.CPU, td.Memory)
	}
	return nil
}

// FargateSizeValid reports whether cpu units and memory MiB are one of
// Fargate's task sizes.
func FargateSizeValid(cpu, memory int64) bool {
	for _, s := range fargateSizes {
		if s.cpu == cpu && memory >= s.min && memory <= s.max && (memory-s.min)%s.step == 0 {
			return true
		}
	}
	return false
}
