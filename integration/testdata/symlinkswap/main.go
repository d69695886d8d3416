// Command symlinkswap plays a hostile container racing a daemon that walks
// its files: it makes PATH a directory (mode "dir", with a directory at
// TARGET too, so that inside the container the symlink leads somewhere) or
// a regular file of 4096 'b's (mode "file"), makes PATH.swap a symlink to
// TARGET, then
// exchanges the two names atomically (renameat2 RENAME_EXCHANGE) as fast as
// it can, forever, so that PATH is a real directory or file one moment and
// a symlink to TARGET the next. It prints "swapping" once it has begun.
//
//	symlinkswap dir|file PATH TARGET
package main

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: symlinkswap dir|file PATH TARGET")
		os.Exit(2)
	}
	mode, p, target := os.Args[1], os.Args[2], os.Args[3]
	var err error
	switch mode {
	case "dir":
		if err = os.MkdirAll(p, 0o755); err == nil {
			err = os.MkdirAll(target, 0o755)
		}
	case "file":
		err = os.WriteFile(p, bytes.Repeat([]byte{'b'}, 4096), 0o644)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err == nil {
		err = os.Symlink(target, p+".swap")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("swapping")
	for {
		if err := unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, p+".swap", unix.RENAME_EXCHANGE); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
