package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/layerfs"
	"github.com/wharf-dev/wharf/image/store"
)

// copySpec is a COPY or ADD after expansion.
type copySpec struct {
	name    string // "COPY" or "ADD"
	from    string
	src     instructions.SourcesAndDest
	chown   string
	chmod   string
	exclude []string
	add     bool
	unpack  bool
}

// planEntry is one thing a COPY writes: a file or directory of the
// source at target, the content of a heredoc, or an archive ADD unpacks
// under target.
type planEntry struct {
	Target  string `json:"t"`
	Rel     string `json:"r,omitempty"`
	Type    uint32 `json:"y"`
	Mode    uint32 `json:"m"`
	UID     uint32 `json:"u"`
	GID     uint32 `json:"g"`
	Size    int64  `json:"s"`
	Link    string `json:"l,omitempty"`
	Digest  string `json:"d,omitempty"`
	Archive bool   `json:"a,omitempty"`
	mtime   time.Time
	data    []byte   // heredoc content
	node    *srcNode // kept open from planning to writing, when set
}

// copy runs a COPY or ADD: it plans what to write, looks the plan up in
// the cache, and otherwise writes the layer from the sources directly.
func (r *stepRun) copy(ctx context.Context, st *state, c copySpec) (bool, error) {
	cp, err := r.planCopy(ctx, st, c, st.layers)
	if err != nil {
		return false, err
	}
	defer cp.close()
	history := c.name + " " + strings.Join(append(append([]string(nil), c.src.SourcePaths...), c.src.DestPath), " ") + " # buildkit"
	key := chainKey(st.key, c.name, cp.srcKey, cp.plan(), cp.chown, c.chmod)
	return r.layerStep(ctx, st, key, history, func(w io.Writer) error {
		return cp.p.write(ctx, w, cp.parent, r.j.created())
	})
}

// copyPlan is what a COPY or ADD, or a bind mount's source, writes: the
// planned entries and the handles they are read through until close.
type copyPlan struct {
	p      *planner
	parent *layerfs.FS
	srcKey string // the source: "context", a stage's cache key, an image ID
	chown  string
	// matches are the sources each source path matched.
	matches [][]*srcNode
	closers []func()
}

func (cp *copyPlan) close() {
	for i := len(cp.closers) - 1; i >= 0; i-- {
		cp.closers[i]()
	}
	cp.closers = nil
}

// plan is the planned entries, for cache keys: every file's path, type,
// mode, owner, size and content digest.
func (cp *copyPlan) plan() string {
	b, _ := json.Marshal(cp.p.entries)
	return string(b)
}

// planCopy plans c onto the image of parentLayers.
func (r *stepRun) planCopy(ctx context.Context, st *state, c copySpec, parentLayers []store.Layer) (_ *copyPlan, err error) {
	cp := &copyPlan{}
	defer func() {
		if err != nil {
			cp.close()
		}
	}()
	for _, s := range c.src.SourcePaths {
		if isURL(s) {
			return nil, fmt.Errorf("%s %s: fetching remote sources is not supported: this daemon builds offline; put the file in the build context: %w", c.name, s, errdefs.ErrNotImplemented)
		}
	}
	var src srcFS
	srcKey := "context"
	if c.from != "" {
		from, err := r.j.df.expand(c.from, r.j.global)
		if err != nil {
			return nil, fmt.Errorf("--from: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		var layers []store.Layer
		names := map[string]int{}
		for _, s := range r.j.df.stages[:r.stage.index] {
			names[strconv.Itoa(s.index)] = s.index
			if s.name != "" {
				names[s.name] = s.index
			}
		}
		if idx, ok := stageRef(names, from.Result); ok {
			fst, err := r.j.wait(ctx, idx)
			if err != nil {
				return nil, err
			}
			layers, srcKey = fst.layers, fst.key
		} else {
			img, err := r.j.image(ctx, from.Result)
			if err != nil {
				return nil, fmt.Errorf("--from=%s: %w", from.Result, err)
			}
			layers, srcKey = img.Layers, img.ID
		}
		lfs, err := r.j.openLayers(ctx, layers)
		if err != nil {
			return nil, err
		}
		cp.closers = append(cp.closers, func() { lfs.Close() })
		src = imageFS{fs: lfs}
	} else {
		src = contextFS{c: r.j.o.Context, b: r.j.b}
	}
	parent, err := r.j.openLayers(ctx, parentLayers)
	if err != nil {
		return nil, err
	}
	cp.parent = parent
	cp.closers = append(cp.closers, func() { parent.Close() })

	uid, gid, chown, err := r.owner(parent, c.chown)
	if err != nil {
		return nil, err
	}
	var chmod *uint32
	if c.chmod != "" {
		m, err := strconv.ParseUint(c.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("invalid chmod parameter %q: %w", c.chmod, errdefs.ErrInvalidArgument)
		}
		mm := uint32(m)
		chmod = &mm
	}
	var excl *patternmatcher.PatternMatcher
	if len(c.exclude) > 0 {
		if excl, err = patternmatcher.New(c.exclude); err != nil {
			return nil, fmt.Errorf("--exclude: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}

	// The destination, resolved inside the image being built.
	dest := c.src.DestPath
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || dest == ""
	if !path.IsAbs(dest) {
		wd := st.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	resolved, err := parent.Resolve(dest, true)
	if err != nil {
		return nil, err
	}
	if n, err := parent.Lookup(resolved, false); err == nil {
		destIsDir = destIsDir || n.IsDir()
		n.Close()
	}

	var matches [][]*srcNode
	count := len(c.src.SourceContents)
	for _, s := range c.src.SourcePaths {
		ns, err := glob(src, s)
		if err != nil && !isNotExist(err) {
			return nil, err
		}
		if len(ns) == 0 {
			return nil, fmt.Errorf("failed to compute cache key: %q not found (not in the build context, or excluded by .dockerignore): %w", s, errdefs.ErrNotFound)
		}
		matches = append(matches, ns)
		count += len(ns)
	}
	cp.closers = append(cp.closers, func() {
		for _, ns := range matches {
			closeNodes(ns)
		}
	})
	cp.matches = matches
	if count > 1 && !destIsDir {
		return nil, fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /: %w", c.name, errdefs.ErrInvalidArgument)
	}

	p := &planner{src: src, uid: uid, gid: gid, chown: chown, chmod: chmod, exclude: excl, epoch: r.j.epoch}
	cp.p, cp.srcKey, cp.chown = p, srcKey, chown
	cp.closers = append(cp.closers, p.close)
	for _, ns := range matches {
		for _, n := range ns {
			target := resolved
			if n.isDir() {
				// A directory's content goes into the destination.
				if err := p.dir(n, target, true); err != nil {
					return nil, err
				}
				continue
			}
			if destIsDir {
				target = path.Join(resolved, path.Base("/"+n.rel))
			}
			if c.add && c.unpack && n.isReg() {
				arch, err := isArchive(src, n)
				if err != nil {
					return nil, err
				}
				if arch {
					d, err := src.digest(n)
					if err != nil {
						return nil, err
					}
					p.entries = append(p.entries, planEntry{Target: resolved, Rel: n.rel, Archive: true, Digest: d, Type: unix.S_IFREG})
					continue
				}
			}
			if err := p.node(n, target, false); err != nil {
				return nil, err
			}
		}
	}
	for _, sc := range c.src.SourceContents {
		target := resolved
		if destIsDir {
			target = path.Join(resolved, path.Base("/"+sc.Path))
		}
		mode := uint32(0o644)
		if chmod != nil {
			mode = *chmod
		}
		sum := sha256.Sum256([]byte(sc.Data))
		p.entries = append(p.entries, planEntry{Target: target, Type: unix.S_IFREG, Mode: mode, UID: uid, GID: gid, Size: int64(len(sc.Data)), Digest: "sha256:" + hex.EncodeToString(sum[:]), data: []byte(sc.Data), mtime: time.Unix(0, 0)})
	}

	return cp, nil
}

// layerStep finishes a step that makes a layer: from the cache under key,
// or by write, which writes the layer tar.
func (r *stepRun) layerStep(ctx context.Context, st *state, key, history string, write func(io.Writer) error) (bool, error) {
	if r.cached(ctx, st, key, history) {
		return true, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	l, release, err := r.j.b.images.PutLayer(ctx, st.topChain(), pr)
	pr.CloseWithError(errors.New("layer stored"))
	if err != nil {
		return false, err
	}
	defer release()
	created := r.j.created()
	if err := r.j.b.images.CachePut(ctx, store.CacheRecord{Key: key, Layer: &l, Created: created, Description: r.name}); err != nil {
		return false, err
	}
	r.apply(st, key, history, &l, created)
	return false, nil
}

// cached applies the step under key from the build cache or a
// --cache-from image, and says whether it could.
func (r *stepRun) cached(ctx context.Context, st *state, key, history string) bool {
	if r.j.o.NoCache {
		return false
	}
	if rec, ok := r.j.b.images.CacheGet(ctx, key); ok && rec.Image == "" {
		r.apply(st, key, history, rec.Layer, rec.Created)
		return true
	}
	if l, created, ok := r.j.fromCacheSources(ctx, st, key); ok {
		r.apply(st, key, history, l, created)
		return true
	}
	return false
}

// apply adds a step's layer (nil: none) and history entry to st.
func (r *stepRun) apply(st *state, key, history string, l *store.Layer, created time.Time) {
	h := v1.History{Created: v1.Time{Time: created}, CreatedBy: history, Comment: "buildkit.dockerfile.v0"}
	if l != nil {
		st.layers = append(st.layers, *l)
	} else {
		h.EmptyLayer = true
	}
	st.cfg.History = append(st.cfg.History, h)
	st.key = key
	st.steps = append(st.steps, inlineStep{Key: key, Layers: len(st.layers), Created: created})
	st.image = ""
}

// openLayers opens a merged view of layers.
func (j *job) openLayers(ctx context.Context, layers []store.Layer) (*layerfs.FS, error) {
	dirs, err := j.b.images.LayerDirs(ctx, &store.Image{ID: "build", Layers: layers})
	if err != nil {
		return nil, err
	}
	return layerfs.Open(dirs)
}

func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// owner resolves --chown against the image's /etc/passwd and /etc/group.
// With only a user, the group has the user's numeric ID, as Docker does.
func (r *stepRun) owner(img *layerfs.FS, spec string) (uid, gid uint32, canon string, err error) {
	if spec == "" {
		return 0, 0, "", nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	lookup := func(file, name string, isUser bool) (uint32, error) {
		if n, err := strconv.ParseUint(name, 10, 32); err == nil {
			return uint32(n), nil
		}
		data, err := img.ReadFile(file, 4<<20)
		if err != nil {
			return 0, fmt.Errorf("unable to convert %s to a number and %s is not readable: %w", name, file, errdefs.ErrInvalidArgument)
		}
		if isUser {
			us, _ := user.ParsePasswdFilter(bytes.NewReader(data), func(x user.User) bool { return x.Name == name })
			if len(us) > 0 {
				return uint32(us[0].Uid), nil
			}
		} else {
			gs, _ := user.ParseGroupFilter(bytes.NewReader(data), func(x user.Group) bool { return x.Name == name })
			if len(gs) > 0 {
				return uint32(gs[0].Gid), nil
			}
		}
		return 0, fmt.Errorf("unable to find %s %q in %s: %w", map[bool]string{true: "user", false: "group"}[isUser], name, file, errdefs.ErrInvalidArgument)
	}
	if uid, err = lookup("/etc/passwd", u, true); err != nil {
		return 0, 0, "", err
	}
	gid = uid
	if hasGroup {
		if gid, err = lookup("/etc/group", g, false); err != nil {
			return 0, 0, "", err
		}
	}
	return uid, gid, fmt.Sprintf("%d:%d", uid, gid), nil
}

// isArchive reports whether a regular file is a (possibly compressed)
// tar, which ADD unpacks.
func isArchive(src srcFS, n *srcNode) (bool, error) {
	rc, err := src.open(n)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	zr, err := decompress(rc)
	if err != nil {
		return false, nil
	}
	_, err = tar.NewReader(zr).Next()
	return err == nil, nil
}

// planner lists what a COPY writes, in order.
type planner struct {
	src      srcFS
	uid, gid uint32
	chown    string
	chmod    *uint32
	exclude  *patternmatcher.PatternMatcher
	epoch    *time.Time
	entries  []planEntry
	// kept counts the nodes entries hold open; past maxKept a file is
	// looked up again by name when it is written.
	kept int
}

const maxKept = 4096

// close releases the nodes the plan holds.
func (p *planner) close() {
	for i := range p.entries {
		if p.entries[i].node != nil {
			p.entries[i].node.close()
			p.entries[i].node = nil
		}
	}
}

func (p *planner) excluded(rel string) bool {
	if p.exclude == nil {
		return false
	}
	m, err := p.exclude.MatchesOrParentMatches(rel)
	return err == nil && m
}

// node plans one non-directory. With owned, the plan may keep n open
// (and closes it); the caller then must not close it.
func (p *planner) node(n *srcNode, target string, owned bool) error {
	if strings.HasPrefix(path.Base(target), ".wh.") {
		return fmt.Errorf("%s: names starting with .wh. are reserved for layer whiteouts: %w", n.rel, errdefs.ErrInvalidArgument)
	}
	e := planEntry{Target: target, Rel: n.rel, Type: n.st.Mode & unix.S_IFMT, Mode: n.st.Mode & 0o7777, Link: n.link, mtime: time.Unix(n.st.Mtim.Sec, 0)}
	p.owner(&e, n)
	switch {
	case n.isReg():
		d, err := p.src.digest(n)
		if err != nil {
			return err
		}
		e.Digest, e.Size = d, n.st.Size
	case n.isSymlink():
		// A symlink is copied as a link, never followed: one pointing
		// outside the context stays a link in the image.
	case n.isDir():
	default:
		return nil // devices, fifos and sockets are not copied
	}
	if p.chmod != nil && !n.isSymlink() {
		e.Mode = *p.chmod
	}
	if n.isReg() && p.kept < maxKept && owned {
		e.node = n
		p.kept++
	}
	p.entries = append(p.entries, e)
	return nil
}

func (p *planner) owner(e *planEntry, n *srcNode) {
	switch {
	case p.chown != "":
		e.UID, e.GID = p.uid, p.gid
	case n.lnode != nil:
		e.UID, e.GID = n.st.Uid, n.st.Gid // COPY --from keeps the owners
	}
}

// dir plans a directory's content under target; the directory itself
// is planned too unless top (COPY dir/ dest copies the content only).
func (p *planner) dir(n *srcNode, target string, top bool) error {
	if !top {
		if err := p.node(n, target, false); err != nil {
			return err
		}
	} else {
		e := planEntry{Target: target, Type: unix.S_IFDIR, Mode: n.st.Mode & 0o7777, mtime: time.Unix(n.st.Mtim.Sec, 0), Rel: n.rel}
		p.owner(&e, n)
		if p.chmod != nil {
			e.Mode = *p.chmod
		}
		e.Rel = "" // the destination keeps its metadata when it exists
		e.Type = 0
		p.entries = append(p.entries, e)
	}
	kids, err := p.src.readDir(n)
	if err != nil {
		return err
	}
	defer func() {
		for _, k := range kids {
			if k != nil {
				k.close()
			}
		}
	}()
	for i, k := range kids {
		if p.excluded(k.rel) {
			continue
		}
		t := path.Join(target, path.Base(k.rel))
		if k.isDir() {
			if err := p.dir(k, t, false); err != nil {
				return err
			}
			continue
		}
		if err := p.node(k, t, true); err != nil {
			return err
		}
		if len(p.entries) > 0 && p.entries[len(p.entries)-1].node == k {
			kids[i] = nil // the plan holds it now
		}
	}
	return nil
}

// write writes the planned entries as a layer tar: first every directory
// above them (as the image has it, or new), then the entries.
func (p *planner) write(ctx context.Context, w io.Writer, parent *layerfs.FS, now time.Time) error {
	tw := tar.NewWriter(w)
	done := map[string]bool{"/": true}
	clamp := func(t time.Time) time.Time {
		if p.epoch != nil && t.After(*p.epoch) {
			return *p.epoch
		}
		return t
	}
	dirHeader := func(d string, newMode uint32, uid, gid uint32) error {
		if done[d] {
			return nil
		}
		done[d] = true
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: int64(newMode), Uid: int(uid), Gid: int(gid), ModTime: clamp(now.Truncate(time.Second)), Format: tar.FormatPAX}
		if n, err := parent.Lookup(d, false); err == nil {
			if n.IsDir() {
				hdr.Mode = int64(n.Stat.Mode & 0o7777)
				hdr.Uid, hdr.Gid = int(n.Stat.Uid), int(n.Stat.Gid)
				hdr.ModTime = clamp(time.Unix(n.Stat.Mtim.Sec, 0))
			}
			n.Close()
		}
		return tw.WriteHeader(hdr)
	}
	parents := func(target string) error {
		var chain []string
		for d := path.Dir(target); d != "/" && !done[d]; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if err := dirHeader(chain[i], 0o755, p.uid, p.gid); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range p.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Target == "/" {
			continue
		}
		if err := parents(e.Target); err != nil {
			return err
		}
		if e.Type == 0 {
			// The destination of a directory copy.
			if err := dirHeader(e.Target, 0o755, e.UID, e.GID); err != nil {
				return err
			}
			continue
		}
		if e.Archive {
			if err := p.unpackArchive(ctx, tw, e, done, dirHeader); err != nil {
				return err
			}
			continue
		}
		hdr := &tar.Header{Name: strings.TrimPrefix(e.Target, "/"), Mode: int64(e.Mode), Uid: int(e.UID), Gid: int(e.GID), ModTime: clamp(e.mtime), Format: tar.FormatPAX}
		switch e.Type {
		case unix.S_IFDIR:
			done[e.Target] = true
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case unix.S_IFLNK:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case unix.S_IFREG:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.Size
			var rc io.ReadCloser
			if e.data != nil {
				rc = io.NopCloser(bytes.NewReader(e.data))
			} else if e.node != nil {
				var err error
				if rc, err = p.src.open(e.node); err != nil {
					return err
				}
			} else {
				n, err := p.src.stat(e.Rel)
				if err != nil {
					return err
				}
				rc, err = p.src.open(n)
				n.close()
				if err != nil {
					return err
				}
			}
			if err := tw.WriteHeader(hdr); err != nil {
				rc.Close()
				return err
			}
			_, err := io.CopyN(tw, rc, e.Size)
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s changed while it was copied: %w", e.Rel, err)
			}
		}
	}
	return tw.Close()
}

// unpackArchive writes the entries of an archive ADD unpacks, under the
// entry's target directory; names cannot climb out of it.
func (p *planner) unpackArchive(ctx context.Context, tw *tar.Writer, e planEntry, done map[string]bool, dirHeader func(string, uint32, uint32, uint32) error) error {
	n, err := p.src.stat(e.Rel)
	if err != nil {
		return err
	}
	rc, err := p.src.open(n)
	n.close()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := dirHeader(e.Target, 0o755, 0, 0); err != nil {
		return err
	}
	zr, err := decompress(rc)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD %s: %v: %w", e.Rel, err, errdefs.ErrInvalidArgument)
		}
		name := strings.TrimPrefix(path.Join(e.Target, path.Clean("/"+hdr.Name)), "/")
		if name == "" || name == strings.TrimPrefix(e.Target, "/") && hdr.Typeflag == tar.TypeDir {
			continue
		}
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("ADD %s: %s: names starting with .wh. are reserved for layer whiteouts: %w", e.Rel, hdr.Name, errdefs.ErrInvalidArgument)
		}
		out := &tar.Header{Name: name, Typeflag: hdr.Typeflag, Mode: hdr.Mode, Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime, Size: hdr.Size, Linkname: hdr.Linkname, Format: tar.FormatPAX}
		switch hdr.Typeflag {
		case tar.TypeDir:
			out.Name += "/"
			done["/"+name] = true
		case tar.TypeReg, tar.TypeSymlink, tar.TypeFifo:
		case tar.TypeLink:
			out.Linkname = strings.TrimPrefix(path.Join(e.Target, path.Clean("/"+hdr.Linkname)), "/")
		default:
			continue // devices and the like are not unpacked
		}
		if err := tw.WriteHeader(out); err != nil {
			return err
		}
		if out.Typeflag == tar.TypeReg {
			if _, err := io.CopyN(tw, tr, hdr.Size); err != nil {
				return err
			}
		}
	}
}
