// Package spec builds the OCI runtime specification (config.json) that wharf
// hands to an OCI runtime (runc, crun) for a container, and the process
// specification for `runc exec --process`.
//
// The defaults are not hand-written: they come from containerd's pkg/oci
// (Docker's default capability set, namespaces, mounts, masked and read-only
// /proc and /sys paths, device cgroup rules) and from moby's profiles/seccomp
// (Docker's default seccomp profile). This package only layers Docker's
// semantics for the user-facing options on top: entrypoint and command
// resolution, environment merging, user lookup inside the image, resource
// limits, capability tweaks, privileged mode, --init and network modes.
//
// The generated spec differs from containerd's default in the ways Docker's
// does: no-new-privileges is off unless asked for, no default RLIMIT_NOFILE
// is imposed, /run is not a tmpfs, /sys/fs/cgroup is mounted read-only, a
// cgroup namespace is created, and the OOM score adjustment is reset to 0 so
// that a daemon protecting itself from the OOM killer does not pass that
// protection on to its containers.
package spec
