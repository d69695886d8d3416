package container

// CgroupsPath is a container's cgroup path below each hierarchy (the
// runtime's cgroupsPath): functions freeze sandboxes and read their memory
// high-water mark there directly.
// A container with a HostConfig.CgroupParent has its cgroup below it.
func (e *Engine) CgroupsPath(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.byID[id]; ok {
		return cgroupsPathOf(en.c)
	}
	return "/wharf/" + id
}
