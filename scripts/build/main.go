// Command build builds the one wharf artifact (see internal/wharfbuild):
//
//	go run ./scripts/build -o bin/wharf
//
// `make build` runs it; run it from anywhere inside the module.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

func main() {
	out := flag.String("o", "bin/wharf", "output file")
	flag.Parse()
	root, err := wharfbuild.ModuleRoot()
	if err == nil {
		err = wharfbuild.Build(context.Background(), root, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}
