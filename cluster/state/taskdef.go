package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// TaskDefinition is an ECS task definition as the cluster keeps it: ECS's
// own shape (the ECS API passes it through), one immutable revision of a
// family. Only Status changes (ACTIVE, then INACTIVE on deregistration).
type TaskDefinition struct {
	Family                  string                `json:"family"`
	Revision                int                   `json:"revision"`
	TaskDefinitionArn       string                `json:"taskDefinitionArn,omitempty"`
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
	Cpu                     string                `json:"cpu,omitempty"`
	Memory                  string                `json:"memory,omitempty"`
	NetworkMode             string                `json:"networkMode,omitempty"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities,omitempty"`
	Compatibilities         []string              `json:"compatibilities,omitempty"`
	TaskRoleArn             string                `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn        string                `json:"executionRoleArn,omitempty"`
	Volumes                 []Volume              `json:"volumes,omitempty"`
	Status                  string                `json:"status"`
	RegisteredAt            *time.Time            `json:"registeredAt,omitempty"`
	DeregisteredAt          *time.Time            `json:"deregisteredAt,omitempty"`
	Tags                    []Tag                 `json:"tags,omitempty"`
}

// ContainerDefinition is one container of a task definition.
type ContainerDefinition struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Cpu               int               `json:"cpu,omitempty"`
	Memory            *int              `json:"memory,omitempty"`
	MemoryReservation *int              `json:"memoryReservation,omitempty"`
	PortMappings      []PortMapping     `json:"portMappings,omitempty"`
	Essential         *bool             `json:"essential,omitempty"`
	EntryPoint        []string          `json:"entryPoint,omitempty"`
	Command           []string          `json:"command,omitempty"`
	Environment       []KeyValue        `json:"environment,omitempty"`
	Secrets           []Secret          `json:"secrets,omitempty"`
	MountPoints       []MountPoint      `json:"mountPoints,omitempty"`
	VolumesFrom       []VolumeFrom      `json:"volumesFrom,omitempty"`
	DependsOn         []Dependency      `json:"dependsOn,omitempty"`
	WorkingDirectory  string            `json:"workingDirectory,omitempty"`
	User              string            `json:"user,omitempty"`
	Hostname          string            `json:"hostname,omitempty"`
	Privileged        *bool             `json:"privileged,omitempty"`
	ReadonlyRootFS    *bool             `json:"readonlyRootFilesystem,omitempty"`
	DockerLabels      map[string]string `json:"dockerLabels,omitempty"`
	HealthCheck       *HealthCheck      `json:"healthCheck,omitempty"`
	LogConfiguration  *LogConfiguration `json:"logConfiguration,omitempty"`
	StopTimeout       *int              `json:"stopTimeout,omitempty"`
	StartTimeout      *int              `json:"startTimeout,omitempty"`
}

// PortMapping is a container port and the host port it is published on.
type PortMapping struct {
	ContainerPort int    `json:"containerPort,omitempty"`
	HostPort      int    `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	Name          string `json:"name,omitempty"`
}

// KeyValue is an environment variable.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Secret names a secret delivered as an environment variable Name, as
// ECS does; a Name under /run/secrets/ (a wharf extension, which
// `wharf stack deploy` writes for compose's secrets) is delivered as
// that file instead, on a tmpfs, as swarm does. ValueFrom is the
// secret's name or ARN (package secrets, Ref).
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// MountPoint mounts a task volume into a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume,omitempty"`
	ContainerPath string `json:"containerPath,omitempty"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// VolumeFrom mounts every mount of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer"`
	ReadOnly        bool   `json:"readOnly,omitempty"`
}

// Volume is a task volume: a host path (Host), an engine volume
// (DockerVolumeConfiguration), or, with neither, an engine volume made
// for the task and removed with it (ECS's empty "host" volume).
type Volume struct {
	Name                      string                     `json:"name"`
	Host                      *VolumeHost                `json:"host,omitempty"`
	DockerVolumeConfiguration *DockerVolumeConfiguration `json:"dockerVolumeConfiguration,omitempty"`
}

// DockerVolumeConfiguration is an engine volume: Scope "task" (the
// default) makes one per task, removed with the task; "shared" names a
// volume that outlives tasks, created when Autoprovision is set and
// missing.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"`
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// VolumeHost is a bind mount's host path.
type VolumeHost struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// Dependency orders a container after another's START, COMPLETE,
// SUCCESS or HEALTHY.
type Dependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// HealthCheck is a container's health check (seconds).
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval,omitempty"`
	Timeout     int      `json:"timeout,omitempty"`
	Retries     int      `json:"retries,omitempty"`
	StartPeriod int      `json:"startPeriod,omitempty"`
}

// LogConfiguration is a container's log driver.
type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Family is a task definition family: its last revision.
type Family struct {
	Name         string `json:"name"`
	LastRevision int    `json:"lastRevision"`
	// Active is whether any of its revisions is ACTIVE.
	Active bool `json:"active"`
}

// Task definition statuses.
const (
	TaskDefActive   = "ACTIVE"
	TaskDefInactive = "INACTIVE"
)

// TaskDefKey is the key of a task definition revision.
func TaskDefKey(family string, revision int) string {
	return family + "." + strconv.Itoa(revision)
}

// RegisterTaskDef stores td as its family's next revision and returns it
// with Revision and Status set. Concurrent registrations of one family
// get distinct revisions: the family's counter is updated with the
// revision read, and a lost race retries.
func (s *Store) RegisterTaskDef(ctx context.Context, td TaskDefinition, now time.Time) (TaskDefinition, error) {
	fams := s.Families()
	for attempt := 0; attempt < 20; attempt++ {
		fe, err := fams.Get(ctx, td.Family)
		var rev uint64
		switch {
		case err == nil:
			rev = fe.Revision
		case errdefs.IsNotFound(err):
			fe.Value = Family{Name: td.Family}
		default:
			return td, err
		}
		f := fe.Value
		f.LastRevision++
		f.Active = true
		if rev == 0 {
			_, err = fams.Create(ctx, td.Family, f)
		} else {
			_, err = fams.Update(ctx, td.Family, f, rev)
		}
		if errdefs.IsConflict(err) {
			continue
		}
		if err != nil {
			return td, err
		}
		td.Revision = f.LastRevision
		td.Status = TaskDefActive
		t := now.UTC()
		td.RegisteredAt = &t
		if _, err := s.TaskDefs().Create(ctx, TaskDefKey(td.Family, td.Revision), td); err != nil {
			return td, err
		}
		return td, nil
	}
	return td, fmt.Errorf("registering %s: too many concurrent registrations: %w", td.Family, errdefs.ErrConflict)
}

// DeregisterTaskDef marks a revision INACTIVE (ECS keeps it describable).
func (s *Store) DeregisterTaskDef(ctx context.Context, family string, revision int, now time.Time) (TaskDefinition, error) {
	tds := s.TaskDefs()
	for attempt := 0; attempt < 20; attempt++ {
		e, err := tds.Get(ctx, TaskDefKey(family, revision))
		if err != nil {
			return TaskDefinition{}, err
		}
		td := e.Value
		if td.Status == TaskDefInactive {
			return td, nil
		}
		td.Status = TaskDefInactive
		t := now.UTC()
		td.DeregisteredAt = &t
		if _, err := tds.Update(ctx, e.Key, td, e.Revision); errdefs.IsConflict(err) {
			continue
		} else if err != nil {
			return td, err
		}
		return td, nil
	}
	return TaskDefinition{}, errors.New("deregistering: too many concurrent updates")
}
