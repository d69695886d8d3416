// Command seccompprobe makes one system call that Docker's default seccomp
// profile refuses but a root process in a container may otherwise make, and
// reports the result: "allowed" (exit 0) or "refused: <errno>" (exit 1).
//
// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create) is on no
// allow list of the default profile: the kernel keyring is not namespaced.
package main

import (
	"fmt"
	"os"
	"syscall"
)

const (
	keyctlGetKeyringID    = 0
	keySpecSessionKeyring = -3
)

func main() {
	_, _, errno := syscall.Syscall(syscall.SYS_KEYCTL, keyctlGetKeyringID, uintptr(keySpecSessionKeyring&0xffffffff), 1)
	if errno != 0 {
		fmt.Printf("refused: %v\n", errno)
		os.Exit(1)
	}
	fmt.Println("allowed")
}
