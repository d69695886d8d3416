package build

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/layer"
	"github.com/wharf-dev/wharf/image/layerfs"
	"github.com/wharf-dev/wharf/image/unpack"
)

// runtimeStubs are the paths the runtime mounts over in every container;
// when the image lacks them, the runtime creates empty stand-ins, which
// are no part of the step's layer.
var runtimeStubs = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys", "/dev"}

// run runs a RUN step as a container of the engine and makes its layer
// from the container's upper directory.
func (r *stepRun) run(ctx context.Context, st *state, c *instructions.RunCommand) (bool, error) {
	argv := cmdLine(st.cfg, c.ShellDependantCmdLine)
	if len(c.Files) > 0 {
		// RUN <<EOF: a single heredoc is the script the shell runs.
		if len(c.Files) != 1 || !c.PrependShell || len(c.CmdLine) != 1 || parser.MustParseHeredoc(c.CmdLine[0]) == nil {
			return false, fmt.Errorf("RUN with this heredoc form is not supported: %w", errdefs.ErrNotImplemented)
		}
		data := c.Files[0].Data
		if strings.HasPrefix(data, "#!") {
			return false, fmt.Errorf("RUN heredoc with a #! line is not supported: %w", errdefs.ErrNotImplemented)
		}
		argv = append(shellOf(st.cfg), data)
	}
	// Build arguments reach the step's environment; the image's ENV wins.
	env := append([]string(nil), st.cfg.Config.Env...)
	var argPairs []string
	for _, k := range r.args.Keys() {
		v, _ := r.args.Get(k)
		if !hasEnv(env, k) {
			env = append(env, k+"="+v)
		}
		argPairs = append(argPairs, k+"="+v)
	}
	for _, k := range proxyArgs {
		if v, ok := r.j.o.BuildArgs[k]; ok && v != nil && !hasEnv(env, k) {
			env = append(env, k+"="+*v)
		}
	}
	// The Dockerfile's --network wins; otherwise the build's (none by
	// default: a build reaches nothing unless asked).
	network := instructions.GetNetwork(c)
	if network != instructions.NetworkNone && network != instructions.NetworkHost {
		network = r.j.o.Network
	}
	switch network {
	case "":
		network = "none"
	case instructions.NetworkDefault:
		network = "bridge"
	}
	mounts := instructions.GetMounts(c)
	var mountDesc []string
	binds := map[*instructions.Mount]*copyPlan{}
	defer func() {
		for _, cp := range binds {
			cp.close()
		}
	}()
	for _, m := range mounts {
		// Secrets are left out of the key: their content is not part of
		// the image. A bind mount's files are in it, by digest.
		desc := fmt.Sprintf("%s:%s:%s:%v", m.Type, m.CacheID, m.Target, m.ReadOnly)
		if m.Type == instructions.MountTypeBind {
			cp, err := r.planBind(ctx, st, m)
			if err != nil {
				return false, err
			}
			binds[m] = cp
			desc += ":" + cp.srcKey + ":" + cp.plan()
		}
		mountDesc = append(mountDesc, desc)
	}
	history := "RUN " + strings.Join(argv, " ") + " # buildkit"
	if len(c.Files) > 0 {
		history = "RUN " + c.String() + " # buildkit"
	}
	if len(argPairs) > 0 {
		history = fmt.Sprintf("RUN |%d %s %s # buildkit", len(argPairs), strings.Join(argPairs, " "), strings.Join(argv, " "))
	}
	key := chainKey(st.key, "RUN", argv, env, st.cfg.Config.User, st.cfg.Config.WorkingDir, network, mountDesc)
	return r.layerStepRun(ctx, st, key, history, func(ctx context.Context, upper string) error {
		return r.exec(ctx, st, argv, env, network, mounts, binds, upper)
	})
}

// layerStepRun is layerStep for a step that runs a container: exec
// leaves the container's upper directory at upper, made into the layer.
func (r *stepRun) layerStepRun(ctx context.Context, st *state, key, history string, exec func(ctx context.Context, upper string) error) (bool, error) {
	if r.cached(ctx, st, key, history) {
		return true, nil
	}
	work, err := os.MkdirTemp(r.j.b.tmp(), "run-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(work)
	upper := filepath.Join(work, "upper")
	if err := exec(ctx, upper); err != nil {
		return false, err
	}
	empty, err := emptyDir(upper)
	if err != nil {
		return false, err
	}
	if empty {
		// A step that changed no file adds no layer (BuildKit's empty
		// layer), and is cached as such.
		created := r.j.created()
		if err := r.j.b.images.CachePut(ctx, storeRecordEmpty(key, created, r.name)); err != nil {
			return false, err
		}
		r.apply(st, key, history, nil, created)
		return false, nil
	}
	return r.layerStep(ctx, st, key, history, func(w io.Writer) error {
		return layer.WriteUpper(ctx, w, upper, layer.Options{Epoch: r.j.epoch})
	})
}

func emptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// stub is a path a mount or the runtime will create in the container's
// writable layer because the image lacks it: top is its first missing
// component.
type stub struct{ target, top string }

// exec runs argv in a container of st's image and moves its writable
// layer to upper. The container and its mounts are removed whatever
// happens.
func (r *stepRun) exec(ctx context.Context, st *state, argv, env []string, network string, mounts []*instructions.Mount, binds map[*instructions.Mount]*copyPlan, upper string) error {
	image, err := r.j.ensureImage(ctx, st)
	if err != nil {
		return err
	}
	img, err := r.j.openLayers(ctx, st.layers)
	if err != nil {
		return err
	}
	defer img.Close()
	targets := append([]string(nil), runtimeStubs...)
	var vm []volume.Mount
	var unlock []func()
	defer func() {
		for _, u := range unlock {
			u()
		}
	}()
	for i, m := range mounts {
		target := m.Target
		if !path.IsAbs(target) {
			wd := st.cfg.Config.WorkingDir
			if wd == "" {
				wd = "/"
			}
			target = path.Join(wd, target)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			dir, u, err := r.j.b.cacheMount(m)
			if err != nil {
				return err
			}
			if u != nil {
				unlock = append(unlock, u)
			}
			vm = append(vm, volume.Mount{Type: volume.TypeBind, Source: dir, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeSecret:
			src, ok, err := r.j.secretFile(m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if m.Target == "" {
				id := m.CacheID
				target = "/run/secrets/" + id
			}
			vm = append(vm, volume.Mount{Type: volume.TypeBind, Source: src, Target: target, ReadOnly: true})
			if m.Env != nil && *m.Env != "" {
				data := r.j.o.Secrets[secretID(m)]
				env = append(env, *m.Env+"="+string(data))
			}
		case instructions.MountTypeBind:
			src, err := r.materialize(ctx, binds[m], filepath.Join(filepath.Dir(upper), fmt.Sprintf("bind%d", i)))
			if err != nil {
				return err
			}
			vm = append(vm, volume.Mount{Type: volume.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeTmpfs:
			vm = append(vm, volume.Mount{Type: volume.TypeTmpfs, Target: target, TmpfsSize: m.SizeLimit, TmpfsOptions: []string{"exec"}})
		default:
			return fmt.Errorf("RUN --mount=type=%s is not supported: %w", m.Type, errdefs.ErrNotImplemented)
		}
		targets = append(targets, target)
	}
	var stubs []stub
	for _, t := range targets {
		if s, ok := missing(img, t); ok {
			stubs = append(stubs, s)
		}
	}
	hc := container.HostConfig{NetworkMode: network, Mounts: vm, LogConfig: container.LogConfig{Type: container.LogDriverNone}}
	ct, err := r.j.b.containers.Create(ctx, container.CreateOptions{
		Config: container.Config{
			Image: image, Cmd: argv, Entrypoint: []string{}, EntrypointSet: true, Env: env,
			User: st.cfg.Config.User, WorkingDir: st.cfg.Config.WorkingDir, Hostname: "buildkitsandbox",
			Labels: map[string]string{"wharf.build": "step"},
		},
		HostConfig: hc,
	})
	if err != nil {
		return err
	}
	removed := false
	defer func() {
		if !removed {
			_ = r.j.b.containers.Remove(context.WithoutCancel(ctx), ct.ID, container.RemoveOptions{Force: true})
		}
	}()
	out := &demux{emit: func(stream int, b []byte) {
		r.j.report(Event{Step: r.n, Name: r.name, Status: StatusLog, Log: append([]byte(nil), b...), Stream: stream})
	}}
	registered := make(chan struct{})
	attached := make(chan error, 1)
	var once sync.Once
	go func() {
		attached <- r.j.b.containers.Attach(ctx, ct.ID, container.AttachOptions{Stdout: true, Stderr: true, Stream: out, Registered: func() { once.Do(func() { close(registered) }) }})
		once.Do(func() { close(registered) })
	}()
	<-registered
	if err := r.j.b.containers.Start(ctx, ct.ID); err != nil {
		return err
	}
	code, err := r.j.b.containers.Wait(ctx, ct.ID, container.WaitNotRunning, nil)
	if err != nil {
		return err
	}
	<-attached // all output is in before the result is
	removed = true
	if err := r.j.b.containers.Remove(context.WithoutCancel(ctx), ct.ID, container.RemoveOptions{Force: true, TakeUpper: upper}); err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("process %q did not complete successfully: exit code: %d: %w", strings.Join(argv, " "), code, ErrStepFailed)
	}
	return removeStubs(upper, img, stubs)
}

// ErrStepFailed is the class of a RUN step whose command failed.
var ErrStepFailed = fmt.Errorf("build step failed: %w", errdefs.ErrInvalidArgument)

// missing reports whether target is missing from the image, and its
// first missing component.
func missing(img *layerfs.FS, target string) (stub, bool) {
	target = path.Clean(target)
	if n, err := img.Lookup(target, false); err == nil {
		n.Close()
		return stub{}, false
	}
	top := target
	for d := path.Dir(target); d != "/"; d = path.Dir(d) {
		n, err := img.Lookup(d, false)
		if err == nil {
			n.Close()
			break
		}
		top = d
	}
	return stub{target: target, top: top}, true
}

// removeStubs deletes what the runtime and the mounts created in the
// upper directory for paths the image lacked, when it is still an empty
// stand-in, with the directories made for it; a parent directory the
// image has and that only the stand-in brought into the upper directory
// goes too. Everything is reached by handles without following
// symlinks: the container wrote this tree.
func removeStubs(upper string, img *layerfs.FS, stubs []stub) error {
	sort.Slice(stubs, func(i, j int) bool { return len(stubs[i].target) > len(stubs[j].target) })
	rfd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	for _, s := range stubs {
		for p := s.target; ; p = path.Dir(p) {
			if !removeIfEmpty(rfd, p) {
				break
			}
			if p == s.top {
				// The parent existed in the image: drop its copy-up when
				// nothing else changed in it.
				dropCopyUp(rfd, img, path.Dir(p))
				break
			}
		}
	}
	return nil
}

// openDir opens the directory rel of the tree at rfd, never following a
// symlink; it returns -1 when there is none.
func openDir(rfd int, rel string) int {
	fd, err := unix.Openat(rfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	for _, c := range strings.Split(strings.Trim(rel, "/"), "/") {
		if c == "" {
			continue
		}
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1
		}
		fd = nfd
	}
	return fd
}

// removeIfEmpty removes p from the tree when it is an empty directory or
// an empty regular file.
func removeIfEmpty(rfd int, p string) bool {
	if p == "/" {
		return false
	}
	pfd := openDir(rfd, path.Dir(p))
	if pfd < 0 {
		return false
	}
	defer unix.Close(pfd)
	base := path.Base(p)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return st.Size == 0 && unix.Unlinkat(pfd, base, 0) == nil
	case unix.S_IFDIR:
		return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR) == nil // fails unless empty
	}
	return false
}

// dropCopyUp removes the directory d from the upper tree when it is empty
// there, not opaque, and has the image's mode and owners.
func dropCopyUp(rfd int, img *layerfs.FS, d string) {
	if d == "/" {
		return
	}
	n, err := img.Lookup(d, false)
	if err != nil {
		return
	}
	defer n.Close()
	if !n.IsDir() {
		return
	}
	pfd := openDir(rfd, path.Dir(d))
	if pfd < 0 {
		return
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, path.Base(d), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode != n.Stat.Mode || st.Uid != n.Stat.Uid || st.Gid != n.Stat.Gid {
		return
	}
	buf := make([]byte, 8)
	if m, err := unix.Lgetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", pfd, path.Base(d)), "trusted.overlay.opaque", buf); err == nil && m > 0 {
		return
	}
	if unix.Unlinkat(pfd, path.Base(d), unix.AT_REMOVEDIR) == nil {
		dropCopyUp(rfd, img, path.Dir(d))
	}
}

// cacheMount returns the directory of a RUN --mount=type=cache, created
// with its mode and owners on first use, and, for sharing=locked, holds
// its lock until the returned func is called.
func (b *Builder) cacheMount(m *instructions.Mount) (string, func(), error) {
	id := m.CacheID
	if id == "" {
		id = m.Target
	}
	sum := sha256.Sum256([]byte(id))
	dir := filepath.Join(b.root, "cache", hex.EncodeToString(sum[:]))
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o7777)
	}
	if err := os.Mkdir(dir, mode); err == nil {
		uid, gid := 0, 0
		if m.UID != nil {
			uid = int(*m.UID)
		}
		if m.GID != nil {
			gid = int(*m.GID)
		}
		if err := os.Lchown(dir, uid, gid); err != nil {
			return "", nil, err
		}
		if err := os.Chmod(dir, mode); err != nil {
			return "", nil, err
		}
	} else if !errors.Is(err, os.ErrExist) {
		return "", nil, err
	}
	if m.CacheSharing == instructions.MountSharingLocked || m.CacheSharing == instructions.MountSharingPrivate {
		v, _ := b.locks.LoadOrStore(dir, &sync.Mutex{})
		mu := v.(*sync.Mutex)
		mu.Lock()
		return dir, mu.Unlock, nil
	}
	return dir, nil, nil
}

func secretID(m *instructions.Mount) string {
	if m.CacheID != "" {
		return m.CacheID
	}
	return path.Base(m.Target)
}

// secretFile writes a secret for a RUN step into a private file (removed
// when the build ends). ok is false for a missing secret that is not
// required.
func (j *job) secretFile(m *instructions.Mount) (string, bool, error) {
	id := secretID(m)
	data, ok := j.o.Secrets[id]
	if !ok {
		if m.Required {
			return "", false, fmt.Errorf("secret %s: not provided (--secret id=%s,src=...): %w", id, id, errdefs.ErrInvalidArgument)
		}
		return "", false, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.secretDir == "" {
		d, err := os.MkdirTemp(j.b.tmp(), "secrets-")
		if err != nil {
			return "", false, err
		}
		j.secretDir = d
	}
	sum := sha256.Sum256([]byte(id))
	p := filepath.Join(j.secretDir, hex.EncodeToString(sum[:8]))
	mode := os.FileMode(0o400)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o777)
	}
	if err := os.WriteFile(p, data, mode); err != nil && !errors.Is(err, os.ErrExist) {
		return "", false, err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return "", false, err
	}
	return p, true, nil
}

// demux splits the engine's multiplexed attach stream (8-byte headers:
// stream, 3 zero bytes, big-endian length) into its streams.
type demux struct {
	emit func(stream int, b []byte)
	hdr  []byte
	left int
	cur  int
}

func (d *demux) Read([]byte) (int, error) { return 0, io.EOF }

func (d *demux) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.left == 0 {
			need := 8 - len(d.hdr)
			if need > len(p) {
				need = len(p)
			}
			d.hdr = append(d.hdr, p[:need]...)
			p = p[need:]
			if len(d.hdr) < 8 {
				break
			}
			d.cur = int(d.hdr[0])
			d.left = int(binary.BigEndian.Uint32(d.hdr[4:8]))
			d.hdr = d.hdr[:0]
			continue
		}
		k := d.left
		if k > len(p) {
			k = len(p)
		}
		d.emit(d.cur, p[:k])
		d.left -= k
		p = p[k:]
	}
	return n, nil
}

// planBind plans the source of a RUN --mount=type=bind as a COPY of it
// to the root of an empty image: from the context, or from= a stage or an
// image. The step is given a copy of it, never the context itself, so its
// writes (with rw) go with the copy, as BuildKit drops them, and a step
// cannot change a file another step or a layer reads.
func (r *stepRun) planBind(ctx context.Context, st *state, m *instructions.Mount) (*copyPlan, error) {
	source := m.Source
	if source == "" {
		source = "."
	}
	spec := copySpec{name: "RUN --mount=type=bind", from: m.From, src: instructions.SourcesAndDest{SourcePaths: []string{source}, DestPath: "/"}}
	cp, err := r.planCopy(ctx, st, spec, nil)
	if err != nil {
		return nil, fmt.Errorf("RUN --mount=type=bind,source=%s: %w", source, err)
	}
	return cp, nil
}

// materialize writes a bind mount's planned source into dir, a new
// directory of the step's own, and returns what to mount: dir, or the one
// file in it when the source is a file.
func (r *stepRun) materialize(ctx context.Context, cp *copyPlan, dir string) (string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(cp.p.write(ctx, pw, cp.parent, r.j.created())) }()
	_, _, err := unpack.Apply(ctx, dir, pr)
	pr.CloseWithError(errors.New("bind source written"))
	if err != nil {
		return "", fmt.Errorf("RUN --mount=type=bind: %w", err)
	}
	if len(cp.matches) != 1 || len(cp.matches[0]) != 1 || cp.matches[0][0].isDir() {
		return dir, nil
	}
	// One file: mounted itself. The runtime follows a symlink given as a
	// mount source on the host, so only a regular file is mounted.
	p := filepath.Join(dir, path.Base("/"+cp.matches[0][0].rel))
	var fst unix.Stat_t
	if err := unix.Lstat(p, &fst); err != nil {
		return "", fmt.Errorf("RUN --mount=type=bind: %w", err)
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("RUN --mount=type=bind: source %s is neither a regular file nor a directory: %w", cp.matches[0][0].rel, errdefs.ErrInvalidArgument)
	}
	return p, nil
}
