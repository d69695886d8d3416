package store

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/content"
)

// The archive `docker load` reads comes from a client and is untrusted. It
// is read in one pass, and nothing of it ever reaches the filesystem as a
// path: every regular file goes straight into the blob store (hashed on
// the way), and the archive's names, directories and links live only in
// memory (loadArchive), where links are resolved as RESOLVE_IN_ROOT would
// resolve them. FIFOs and device nodes are refused, since opening or
// reading them is what an attacker wants the daemon to do. Files whose
// role is to be parsed (manifest.json, index.json, configs, OCI manifests)
// are read with a cap; layers are never read into memory, only streamed
// from blob to blob and checked against their declared size.
const (
	// maxLoadMetadata caps each JSON document of an archive.
	maxLoadMetadata = 4 << 20
	// maxLoadEntries caps the entries of an archive (every one costs a
	// map entry and, for files, a blob).
	maxLoadEntries = 100_000
	// maxLoadName caps entry names and link targets (PATH_MAX).
	maxLoadName = 4096
	// maxLoadLinks is how many links one lookup follows (Linux's
	// MAXSYMLINKS).
	maxLoadLinks = 40
)

// loadBlobs is where the archive reader keeps the archive's files and
// reads them back. Every blob put stays until the load is over; the store
// then drops those no image refers to.
type loadBlobs interface {
	// put stores r and returns its digest and size. expected, when not
	// empty, is the digest r must hash to (ErrInvalidArgument if not).
	put(ctx context.Context, expected string, r io.Reader) (digest string, size int64, err error)
	// open reads a blob put before.
	open(digest string) (io.ReadCloser, error)
}

// archiveFile is a regular file of the archive, kept as a blob.
type archiveFile struct {
	digest string
	size   int64
}

// loadArchive is the namespace of an archive: regular files by cleaned
// path, and links (symlink targets as written; hard links as absolute
// paths, since their target is named from the archive's root).
type loadArchive struct {
	files map[string]archiveFile
	links map[string]string
}

// metadataNames are read as JSON whatever the archive says about them, so
// an oversized one is refused before its bytes are stored.
var metadataNames = map[string]bool{"manifest.json": true, "index.json": true, "oci-layout": true, "repositories": true}

var ociBlobName = regexp.MustCompile(`^blobs/sha256/([0-9a-f]{64})$`)

func invalidLoad(format string, a ...any) error {
	return fmt.Errorf("load: "+format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

// readLoadArchive reads a (decompressed) tar stream to its end, putting
// every regular file into b.
func readLoadArchive(ctx context.Context, r io.Reader, b loadBlobs) (*loadArchive, error) {
	a := &loadArchive{files: map[string]archiveFile{}, links: map[string]string{}}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, invalidLoad("reading the archive: %v", err)
		}
		if n >= maxLoadEntries {
			return nil, invalidLoad("the archive has more than %d entries", maxLoadEntries)
		}
		if len(hdr.Name) > maxLoadName || len(hdr.Linkname) > maxLoadName {
			return nil, invalidLoad("archive entry name longer than %d bytes", maxLoadName)
		}
		name := cleanArchivePath(hdr.Name)
		if isSparse(hdr) {
			// A sparse entry reads back its holes as zeros: a few bytes
			// of archive could make the daemon write terabytes.
			return nil, invalidLoad("%s is a sparse file: image archives hold none", name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg:
			if name == "" {
				return nil, invalidLoad("archive entry %q names no file", hdr.Name)
			}
			if metadataNames[name] && hdr.Size > maxLoadMetadata {
				return nil, invalidLoad("%s is %d bytes, more than the %d bytes allowed", name, hdr.Size, maxLoadMetadata)
			}
			expected := ""
			if m := ociBlobName.FindStringSubmatch(name); m != nil {
				// An OCI layout names its blobs by digest: check it
				// while storing, so that a wrong one fails here.
				expected = "sha256:" + m[1]
			}
			d, size, err := b.put(ctx, expected, tr)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if errdefs.IsInvalidArgument(err) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, invalidLoad("%s: %v", name, err)
				}
				return nil, fmt.Errorf("load: %s: %w", name, err)
			}
			a.files[name] = archiveFile{digest: d, size: size}
			delete(a.links, name)
		case tar.TypeSymlink, tar.TypeLink:
			if name == "" {
				return nil, invalidLoad("archive entry %q names no file", hdr.Name)
			}
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeLink {
				target = "/" + target
			}
			a.links[name] = target
			delete(a.files, name)
		default:
			return nil, invalidLoad("%s is %s: an image archive holds only regular files, directories and links", name, entryKind(hdr.Typeflag))
		}
	}
}

// isSparse reports a GNU sparse entry, old style (type 'S') or PAX.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func entryKind(t byte) string {
	switch t {
	case tar.TypeFifo:
		return "a FIFO"
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	}
	return fmt.Sprintf("of tar type %q", t)
}

// cleanArchivePath turns an entry name into the archive's canonical form:
// relative to its root, no "." or ".." left ("" for the root itself).
func cleanArchivePath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// resolve finds the regular file p names, following links as the kernel
// would with the archive as the root (RESOLVE_IN_ROOT): ".." stops at the
// root and an absolute target starts from it, so no name reaches outside.
func (a *loadArchive) resolve(p string) (archiveFile, error) {
	var stack []string
	rest := strings.Split(p, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		stack = append(stack, c)
		target, ok := a.links[strings.Join(stack, "/")]
		if !ok {
			continue
		}
		if links++; links > maxLoadLinks {
			return archiveFile{}, invalidLoad("%s: too many levels of links", p)
		}
		stack = stack[:len(stack)-1]
		if strings.HasPrefix(target, "/") {
			stack = stack[:0]
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	f, ok := a.files[strings.Join(stack, "/")]
	if !ok {
		return archiveFile{}, invalidLoad("%s: no such file in the archive", p)
	}
	return f, nil
}

// readSmall reads a JSON document of the archive, refusing one larger
// than maxLoadMetadata.
func (a *loadArchive) readSmall(b loadBlobs, p string) ([]byte, error) {
	f, err := a.resolve(p)
	if err != nil {
		return nil, err
	}
	return readCapped(b, f, p)
}

func readCapped(b loadBlobs, f archiveFile, what string) ([]byte, error) {
	if f.size > maxLoadMetadata {
		return nil, invalidLoad("%s is %d bytes, more than the %d bytes allowed", what, f.size, maxLoadMetadata)
	}
	rc, err := b.open(f.digest)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", what, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxLoadMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", what, err)
	}
	if len(data) > maxLoadMetadata {
		return nil, invalidLoad("%s is more than the %d bytes allowed", what, maxLoadMetadata)
	}
	return data, nil
}

// loadPlan is one image of an archive, checked and ready to be ingested.
type loadPlan struct {
	rawConfig   []byte
	rawManifest []byte // an OCI layout's manifest, kept as is; nil: build one
	tags        []string
	layers      []planLayer
}

// planLayer is one layer of a loadPlan: a blob of the archive.
type planLayer struct {
	blob      string
	size      int64
	mediaType types.MediaType
	// gzip: an uncompressed tar, to be stored gzipped so that a later
	// push sends a compressed layer.
	gzip bool
}

// plan reads the archive's metadata and returns the images to ingest: an
// OCI layout's when it has index.json, else a docker-archive's.
func (a *loadArchive) plan(b loadBlobs) ([]loadPlan, error) {
	if _, err := a.resolve("index.json"); err == nil {
		return a.planOCI(b)
	}
	if _, err := a.resolve("manifest.json"); err == nil {
		return a.planDocker(b)
	}
	return nil, invalidLoad("archive has neither index.json nor manifest.json")
}

// planDocker reads a docker-archive: manifest.json lists, per image, the
// config file, the layer files (any compression) and the tags.
func (a *loadArchive) planDocker(b loadBlobs) ([]loadPlan, error) {
	raw, err := a.readSmall(b, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, invalidLoad("manifest.json: %v", err)
	}
	if entries == nil {
		return nil, invalidLoad("manifest.json: null manifest")
	}
	var out []loadPlan
	for _, e := range entries {
		rawConfig, err := a.readSmall(b, e.Config)
		if err != nil {
			return nil, err
		}
		p := loadPlan{rawConfig: rawConfig}
		if err := p.check(len(e.Layers)); err != nil {
			return nil, err
		}
		for _, t := range e.RepoTags {
			tag, err := parseTag(t)
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			p.tags = append(p.tags, tag)
		}
		for _, lp := range e.Layers {
			f, err := a.resolve(lp)
			if err != nil {
				return nil, err
			}
			l := planLayer{blob: f.digest, size: f.size, mediaType: types.DockerLayer}
			switch sniffCompression(b, f) {
			case "zstd":
				l.mediaType = types.OCILayerZStd
			case "":
				l.gzip = true
			}
			p.layers = append(p.layers, l)
		}
		out = append(out, p)
	}
	return out, nil
}

// check parses the plan's config and matches its layer count.
func (p *loadPlan) check(layers int) error {
	cfg, err := ParseConfig(p.rawConfig)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != layers {
		return invalidLoad("image config lists %d layers, manifest %d", len(cfg.RootFS.DiffIDs), layers)
	}
	return nil
}

// sniffCompression returns "gzip" or "zstd" from a blob's magic number,
// or "" for anything else (an uncompressed tar).
func sniffCompression(b loadBlobs, f archiveFile) string {
	rc, err := b.open(f.digest)
	if err != nil {
		return ""
	}
	defer rc.Close()
	var magic [4]byte
	n, _ := io.ReadFull(rc, magic[:])
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return "gzip"
	case n == 4 && magic == [4]byte{0x28, 0xb5, 0x2f, 0xfd}:
		return "zstd"
	}
	return ""
}

// planOCI reads an OCI layout: every image of index.json (the host
// platform's image of a nested index), named from its annotations.
func (a *loadArchive) planOCI(b loadBlobs) ([]loadPlan, error) {
	raw, err := a.readSmall(b, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, invalidLoad("index.json: %v", err)
	}
	var out []loadPlan
	for _, desc := range idx.Manifests {
		m, rawManifest, err := a.pickManifest(b, desc)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		rawConfig, err := a.readBlob(b, m.Config, "config")
		if err != nil {
			return nil, err
		}
		p := loadPlan{rawConfig: rawConfig, rawManifest: rawManifest}
		if err := p.check(len(m.Layers)); err != nil {
			return nil, err
		}
		if n := ociName(desc.Annotations); n != "" {
			p.tags = []string{n}
		}
		for _, d := range m.Layers {
			f, err := a.blob(d, "layer")
			if err != nil {
				return nil, err
			}
			p.layers = append(p.layers, planLayer{blob: f.digest, size: f.size, mediaType: d.MediaType})
		}
		out = append(out, p)
	}
	return out, nil
}

// pickManifest resolves an index entry to an image manifest: itself, or
// the host platform's (else the first) image of a nested index. Other
// artifacts give nil.
func (a *loadArchive) pickManifest(b loadBlobs, desc v1.Descriptor) (*v1.Manifest, []byte, error) {
	switch {
	case desc.MediaType.IsImage():
		raw, err := a.readBlob(b, desc, "manifest")
		if err != nil {
			return nil, nil, err
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, invalidLoad("manifest %s: %v", desc.Digest, err)
		}
		return m, raw, nil
	case desc.MediaType.IsIndex():
		raw, err := a.readBlob(b, desc, "index")
		if err != nil {
			return nil, nil, err
		}
		child, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, invalidLoad("index %s: %v", desc.Digest, err)
		}
		var pick *v1.Descriptor
		for i, d := range child.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			if pick == nil {
				pick = &child.Manifests[i]
			}
			if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				pick = &child.Manifests[i]
				break
			}
		}
		if pick == nil {
			return nil, nil, nil
		}
		return a.pickManifest(b, *pick)
	}
	return nil, nil, nil
}

// blob finds the file of an OCI descriptor, blobs/<alg>/<hex>, and checks
// it against the descriptor's digest and declared size.
func (a *loadArchive) blob(d v1.Descriptor, what string) (archiveFile, error) {
	hex, err := content.ValidateDigest(d.Digest.String())
	if err != nil {
		return archiveFile{}, fmt.Errorf("load: %s: %w", what, err)
	}
	f, err := a.resolve("blobs/sha256/" + hex)
	if err != nil {
		return archiveFile{}, invalidLoad("%s %s missing", what, d.Digest)
	}
	if f.digest != d.Digest.String() {
		return archiveFile{}, invalidLoad("%s %s: the archive's file has digest %s", what, d.Digest, f.digest)
	}
	if f.size != d.Size {
		return archiveFile{}, invalidLoad("%s %s: %d bytes, the descriptor declares %d", what, d.Digest, f.size, d.Size)
	}
	return f, nil
}

// readBlob reads a small OCI blob (manifest, index, config).
func (a *loadArchive) readBlob(b loadBlobs, d v1.Descriptor, what string) ([]byte, error) {
	f, err := a.blob(d, what)
	if err != nil {
		return nil, err
	}
	return readCapped(b, f, what+" "+d.Digest.String())
}
