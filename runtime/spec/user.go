package spec

import (
	"errors"
	"fmt"
	"io"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

// User is a container user resolved against the image's /etc/passwd and
// /etc/group.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
	// Home is the user's home directory from passwd; it becomes $HOME.
	Home string
}

// maxUserFileSize bounds how much of an image's passwd or group file is read;
// the files come from untrusted images and are read by the daemon.
const maxUserFileSize = 16 << 20

// ResolveUser resolves a Docker user specification ("", "name", "uid",
// "uid:gid", "name:group", "uid:group", "name:gid") against <rootfs>/etc/passwd
// and <rootfs>/etc/group, with Docker's rules: "" is root; a numeric uid that
// is not in passwd is accepted with gid 0; a user name that is not in passwd,
// or a group name that is not in group, is errdefs.ErrInvalidArgument. A user
// given by name or uid alone gets the supplementary groups that list it.
//
// The files are opened inside rootfs with openat2-style resolution, so an
// image whose /etc/passwd is a symlink to the host's /etc/shadow reads its own
// rootfs only, and special files (a FIFO would block the daemon) are refused.
func ResolveUser(rootfs, userSpec string) (User, error) {
	passwd, err := openUserFile(rootfs, "/etc/passwd")
	if err != nil {
		return User{}, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openUserFile(rootfs, "/etc/group")
	if err != nil {
		return User{}, err
	}
	if group != nil {
		defer group.Close()
	}
	// GetExecUser treats a nil reader as "no such file", but only when the
	// interface itself is nil, not a nil *os.File in it.
	var pr, gr io.Reader
	if passwd != nil {
		pr = io.LimitReader(passwd, maxUserFileSize)
	}
	if group != nil {
		gr = io.LimitReader(group, maxUserFileSize)
	}
	// Defaults apply when the user is not in passwd. runc uses "/" as the home
	// of such users; root gets /root, where images expect it.
	defaults := &user.ExecUser{Home: "/"}
	if isRootSpec(userSpec) {
		defaults.Home = "/root"
	}
	// moby/sys/user is the lookup Docker and runc use, so wharf resolves the
	// same users and prints the same errors ("unable to find user xyz: no
	// matching entries in passwd file").
	eu, err := user.GetExecUser(userSpec, defaults, pr, gr)
	if err != nil {
		return User{}, invalidArg{err}
	}
	if eu.Uid < 0 || eu.Gid < 0 || int64(eu.Uid) > 1<<32-2 || int64(eu.Gid) > 1<<32-2 {
		return User{}, fmt.Errorf("%w: user %q: id out of range", errdefs.ErrInvalidArgument, userSpec)
	}
	u := User{UID: uint32(eu.Uid), GID: uint32(eu.Gid), Home: eu.Home}
	for _, g := range eu.Sgids {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	if u.Home == "" {
		u.Home = defaults.Home
	}
	return u, nil
}

// isRootSpec reports whether a user specification names uid 0 without
// needing passwd: "" or "0" with any group.
func isRootSpec(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			s = s[:i]
			break
		}
	}
	return s == "" || s == "0" || s == "root"
}

// openUserFile opens name inside rootfs for reading. A missing file is not an
// error (nil, nil): images without passwd still run with numeric users.
func openUserFile(rootfs, name string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s in rootfs: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: %s in the image is not a regular file", errdefs.ErrInvalidArgument, name)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	return f, nil
}

// invalidArg classes an error as errdefs.ErrInvalidArgument while keeping
// its message unchanged, so users see exactly Docker's wording.
type invalidArg struct{ err error }

func (e invalidArg) Error() string   { return e.err.Error() }
func (e invalidArg) Unwrap() []error { return []error{errdefs.ErrInvalidArgument, e.err} }
