// Command wharf-init is a test build of the init that --init runs; it lets
// tests run initproc.Main as a real process (and as a container's pid 1).
package main

import (
	"os"

	"github.com/wharf-dev/wharf/runtime/initproc"
)

func main() { os.Exit(initproc.Main(os.Args[1:])) }
