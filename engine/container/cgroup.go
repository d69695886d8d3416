package container

// CgroupsPath is a container's cgroup path below each hierarchy (the
// runtime's cgroupsPath): functions freeze sandboxes and read their memory
// high-water mark there directly.
func (e *Engine) CgroupsPath(id string) string { return "/wharf/" + id }
