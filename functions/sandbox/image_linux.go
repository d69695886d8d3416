package sandbox

// imageContainer makes cs run an image function: the image's own root
// filesystem (read-only, as for zip functions), the command line and
// working directory the engine resolved from ImageConfig and the image
// (functions/imagefn), and the same unprivileged sandbox user as zip functions, as
// Lambda runs images as a non-root user whatever their USER says.
func imageContainer(cs *ContainerSpec, spec Spec) {
	cs.Image = spec.Image
	// The whole command line goes in as the entrypoint: the engine then
	// appends no CMD of the image's, which spec.Command already holds.
	cs.Entrypoint = append([]string{}, spec.Command...)
	cs.WorkingDir = spec.WorkingDir
	cs.User = sandboxUser
}
