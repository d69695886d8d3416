package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

// A task's resources beyond its containers: the secrets it is given and
// the volumes it mounts.
//
// Secrets. A container definition's secrets whose name is an
// environment variable are decrypted on this node when the container is
// created and set in its environment (ECS's behaviour). Those named
// /run/secrets/<file> are written, when the task is provisioned, to a
// tmpfs the runner mounts for the task at
//
//	<secrets dir>/<task id>            tmpfs, mode 0755, size-limited
//	<secrets dir>/<task id>/<container>/<file>   0444
//
// (the secrets dir is 0700, under the daemon's --exec-root) and bound
// read-only on /run/secrets of that container: their values never reach
// the node's disk. The tmpfs is unmounted when the task's containers are
// removed. A secret that does not exist or does not decrypt fails the
// task as ECS fails it (ResourceInitializationError).
//
// Volumes. A task volume with host.sourcePath is a bind mount of that
// path; one with dockerVolumeConfiguration scope "shared" is the engine
// volume of that name (created if autoprovision says so); scope "task",
// and a volume with neither (ECS's empty host volume), is an engine
// volume named ecs-<family>-<revision>-<volume>-<task id>, created for the
// task and removed with it.

// Secrets reads secrets' values (secrets.Store).
type Secrets interface {
	Value(ctx context.Context, name string) ([]byte, error)
}

// Volumes is the node's volume store (volume.Store, or the engine's
// evented wrapper of it).
type Volumes interface {
	Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error)
	Get(ctx context.Context, name string) (*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
}

// WithSecrets has the runner deliver tasks' secrets from s; dir (under
// the daemon's exec root) holds the tasks' secret tmpfs mounts.
func WithSecrets(s Secrets, dir string) RunnerOption {
	return func(r *Runner) { r.secrets, r.secretsDir = s, dir }
}

// WithVolumes has the runner create and remove tasks' engine volumes.
func WithVolumes(v Volumes) RunnerOption { return func(r *Runner) { r.volumes = v } }

// secretsFailed is ECS's stoppedReason for a task whose secrets cannot
// be fetched.
func secretsFailed(valueFrom string, err error) string {
	why := "ResourceNotFoundException: Secrets Manager can't find the specified secret."
	if !errdefs.IsNotFound(err) {
		why = err.Error()
	}
	return "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: failed to fetch secret " + valueFrom + ": " + why
}

// secretValue decrypts what valueFrom names.
func (r *Runner) secretValue(ctx context.Context, valueFrom string) ([]byte, error) {
	if r.secrets == nil {
		return nil, fmt.Errorf("this node delivers no secrets: %w", errdefs.ErrUnavailable)
	}
	name, err := secrets.Ref(valueFrom)
	if err != nil {
		return nil, err
	}
	return r.secrets.Value(ctx, name)
}

// fileSecret reports whether a secret is delivered as a file, and the
// file's name.
func fileSecret(s state.Secret) (string, bool) {
	return strings.CutPrefix(s.Name, "/run/secrets/")
}

// provisionTask prepares a task's secrets and shared volumes before its
// containers are created. The error is the task's stoppedReason.
func (r *Runner) provisionTask(ctx context.Context, t state.Task, td state.TaskDefinition) (string, error) {
	if r.awsvpc(t, td) {
		if _, err := r.ensureTaskSandbox(ctx, t); err != nil {
			return "ResourceInitializationError: unable to set up the task's network interface: " + err.Error(), err
		}
	}
	files := map[string]map[string][]byte{}
	for _, c := range td.ContainerDefinitions {
		for _, s := range c.Secrets {
			v, err := r.secretValue(ctx, s.ValueFrom)
			if err != nil {
				return secretsFailed(s.ValueFrom, err), err
			}
			if f, ok := fileSecret(s); ok {
				if files[c.Name] == nil {
					files[c.Name] = map[string][]byte{}
				}
				files[c.Name][f] = v
			}
		}
	}
	if len(files) > 0 {
		if err := r.writeSecretFiles(t.ID, files); err != nil {
			return "ResourceInitializationError: unable to write the task's secrets: " + err.Error(), err
		}
	}
	for _, v := range td.Volumes {
		dv := v.DockerVolumeConfiguration
		if dv == nil || dv.Scope != "shared" {
			continue
		}
		if r.volumes == nil {
			return "", fmt.Errorf("this node has no volume store: %w", errdefs.ErrUnavailable)
		}
		if _, err := r.volumes.Get(ctx, v.Name); err == nil {
			continue
		} else if !errdefs.IsNotFound(err) {
			return "ResourceInitializationError: volume " + v.Name + ": " + err.Error(), err
		}
		if dv.Autoprovision == nil || !*dv.Autoprovision {
			err := fmt.Errorf("the shared volume %s does not exist and autoprovision is off: %w", v.Name, errdefs.ErrNotFound)
			return "ResourceInitializationError: " + err.Error(), err
		}
		if _, err := r.volumes.Create(ctx, volume.CreateOptions{Name: v.Name, Driver: dv.Driver, Labels: dv.Labels, Options: dv.DriverOpts}); err != nil {
			return "ResourceInitializationError: volume " + v.Name + ": " + err.Error(), err
		}
	}
	return "", nil
}

// TaskVolumeName is the engine volume of a task-scoped volume.
func TaskVolumeName(t state.Task, vol string) string {
	return fmt.Sprintf("ecs-%s-%d-%s-%s", t.Family, t.Revision, vol, t.ID)
}

func taskScoped(v state.Volume) bool {
	if v.Host != nil && v.Host.SourcePath != "" {
		return false
	}
	return v.DockerVolumeConfiguration == nil || v.DockerVolumeConfiguration.Scope != "shared"
}

// addTaskResources adds a container's secrets (environment and the
// /run/secrets tmpfs), mount points and volumesFrom to its create
// options, creating the task's task-scoped volumes it mounts.
func (r *Runner) addTaskResources(ctx context.Context, t state.Task, td state.TaskDefinition, def *state.ContainerDefinition, o *container.CreateOptions) error {
	files := false
	for _, s := range def.Secrets {
		if _, ok := fileSecret(s); ok {
			files = true
			continue
		}
		v, err := r.secretValue(ctx, s.ValueFrom)
		if err != nil {
			return fmt.Errorf("%s", secretsFailed(s.ValueFrom, err))
		}
		o.Config.Env = append(o.Config.Env, s.Name+"="+string(v))
	}
	if files {
		o.HostConfig.Mounts = append(o.HostConfig.Mounts, volume.Mount{Type: volume.TypeBind,
			Source: filepath.Join(r.secretsDir, t.ID, def.Name), Target: "/run/secrets", ReadOnly: true})
	}
	vols := map[string]state.Volume{}
	for _, v := range td.Volumes {
		vols[v.Name] = v
	}
	for _, mp := range def.MountPoints {
		v, ok := vols[mp.SourceVolume]
		if !ok {
			return fmt.Errorf("mount point %s: no volume %s in %s:%d: %w", mp.ContainerPath, mp.SourceVolume, td.Family, td.Revision, errdefs.ErrInvalidArgument)
		}
		m := volume.Mount{Target: mp.ContainerPath, ReadOnly: mp.ReadOnly}
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			// ECS's agent makes a missing host path, as docker's -v does.
			m.Type, m.Source, m.CreateSource = volume.TypeBind, v.Host.SourcePath, true
		case !taskScoped(v):
			m.Type, m.Source = volume.TypeVolume, v.Name
		default:
			if r.volumes == nil {
				return fmt.Errorf("this node has no volume store: %w", errdefs.ErrUnavailable)
			}
			name := TaskVolumeName(t, v.Name)
			co := volume.CreateOptions{Name: name, Labels: map[string]string{LabelTaskID: t.ID}}
			if dv := v.DockerVolumeConfiguration; dv != nil {
				co.Driver, co.Options = dv.Driver, dv.DriverOpts
				for k, val := range dv.Labels {
					co.Labels[k] = val
				}
			}
			if _, err := r.volumes.Create(ctx, co); err != nil {
				return err
			}
			m.Type, m.Source = volume.TypeVolume, name
		}
		o.HostConfig.Mounts = append(o.HostConfig.Mounts, m)
	}
	for _, vf := range def.VolumesFrom {
		ref := ContainerName(t, vf.SourceContainer)
		if vf.ReadOnly {
			ref += ":ro"
		}
		o.HostConfig.VolumesFrom = append(o.HostConfig.VolumesFrom, ref)
	}
	return nil
}

// releaseTaskResources removes what a task had beyond its containers (called once
// they are removed): its secrets' tmpfs and its task-scoped volumes.
func (r *Runner) releaseTaskResources(ctx context.Context, t state.Task, td state.TaskDefinition) {
	if r.secretsDir != "" {
		if err := removeSecretFiles(r.secretsDir, t.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cluster: removing a task's secrets", "task", t.ID, "err", err)
		}
	}
	if r.volumes == nil {
		return
	}
	for _, v := range td.Volumes {
		if !taskScoped(v) {
			continue
		}
		if err := r.volumes.Remove(ctx, TaskVolumeName(t, v.Name), true); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("cluster: removing a task's volume", "task", t.ID, "volume", v.Name, "err", err)
		}
	}
}

// sweepSecrets unmounts the secrets of tasks the node no longer has
// (known: the task ids read), after their containers are gone.
func (r *Runner) sweepSecrets(ctx context.Context, known map[string]bool) {
	if r.secretsDir == "" {
		return
	}
	des, err := os.ReadDir(r.secretsDir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !known[de.Name()] && !r.adopt(ctx, de.Name()) {
			if err := removeSecretFiles(r.secretsDir, de.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
				r.log.Warn("cluster: removing the secrets of a task the cluster no longer has", "task", de.Name(), "err", err)
			}
		}
	}
}
