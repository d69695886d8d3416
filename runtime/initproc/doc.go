// Package initproc is the body of wharf-init, the minimal init process that
// --init runs as a container's pid 1, in the manner of tini.
//
// A program that is not written to be pid 1 misbehaves there: the kernel
// does not apply default signal actions to pid 1 of a namespace (so
// SIGTERM from `docker stop` is ignored unless handled), and orphaned
// processes are re-parented to pid 1 and stay zombies unless it reaps them.
// wharf-init fixes both: it runs the command as its only direct child in a
// process group of its own (made the terminal's foreground group when there
// is a terminal, so that Ctrl-C reaches the command once), forwards every
// signal it receives to the child, reaps every exited process, and exits
// with the child's status (128+n when the child was killed by signal n).
//
// The package is deliberately small and depends only on the standard library:
// it is compiled into a static binary that is bind-mounted into containers.
package initproc
