package portproxy

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isAddrInUse(err error) bool { return errors.Is(err, unix.EADDRINUSE) }
