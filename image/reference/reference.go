// Package reference reads image references on the daemon's side the way
// dockerd does, on top of go-containerregistry's name package: docker.io
// and its official "library/" namespace are implied ("busybox" is
// docker.io/library/busybox:latest), a name without tag or digest means
// ":latest", and a reference dockerd refuses is refused with dockerd's
// message (distribution/reference's) and errdefs.ErrInvalidArgument.
//
// name is more lenient than dockerd: it accepts empty path components,
// separators at a component's ends ("foo/-bar", "foo..bar") and a tag
// that starts with a dot or a dash. Parse checks those rules of Docker's
// grammar too, so that nothing dockerd would refuse is pulled or stored:
//
//	path-component := [a-z0-9]+ (separator [a-z0-9]+)*
//	separator      := "." | "_" | "__" | "-"+
//	tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//
// Familiar renders a reference as docker prints it: "busybox:latest",
// "user/app:1", "127.0.0.1:5000/x/y:t", "busybox@sha256:…".
package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/wharf-dev/wharf/errdefs"
)

// Docker Hub's names: the one the API and the CLI print, and the one
// go-containerregistry resolves it to.
const (
	dockerHub      = "docker.io"
	officialPrefix = "library/"
	maxPathLength  = 255
)

// Errors as dockerd words them (distribution/reference).
var (
	errInvalidFormat = errors.New("invalid reference format")
	errTagFormat     = errors.New("invalid tag format")
	errNameEmpty     = errors.New("repository name must have at least one component")
	errNameTooLong   = fmt.Errorf("repository name must not be more than %d characters", maxPathLength)
)

func invalid(err error) error { return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument) }

// Parse parses a reference: a name with an optional tag or digest ("a tag
// and a digest" keeps the digest). The result is a name.Tag, ":latest"
// when no tag was given, or a name.Digest.
func Parse(s string) (name.Reference, error) {
	if err := checkSyntax(s); err != nil {
		return nil, err
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return nil, invalid(errInvalidFormat)
	}
	if err := checkGrammar(r.Context(), tagOf(r)); err != nil {
		return nil, err
	}
	return r, nil
}

// checkSyntax refuses what dockerd refuses before its grammar, with its
// messages: a 64-hex-digit name (an image ID), a repository path with
// capitals or longer than 255 bytes.
func checkSyntax(s string) error {
	if len(s) == 64 && isLowerHex(s) {
		return invalid(fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s))
	}
	_, remainder := splitDockerDomain(s)
	remote := remainder
	if i := strings.IndexByte(remainder, ':'); i >= 0 {
		remote = remainder[:i]
	}
	if strings.ToLower(remote) != remote {
		return invalid(fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote))
	}
	path, _, _ := strings.Cut(remainder, "@")
	if i := strings.LastIndexByte(path, ':'); i >= 0 {
		path = path[:i]
	}
	if len(path) > maxPathLength {
		return invalid(errNameTooLong)
	}
	return nil
}

// splitDockerDomain splits a name into its registry and the rest as
// dockerd does: the first component is a registry when it has a dot or a
// port, or is "localhost", and holds no capitals; otherwise the registry is
// Docker Hub, where a one-component name is an official image.
func splitDockerDomain(s string) (domain, remainder string) {
	i := strings.IndexByte(s, '/')
	if i < 0 || (!strings.ContainsAny(s[:i], ".:") && s[:i] != "localhost" && strings.ToLower(s[:i]) == s[:i]) {
		domain, remainder = dockerHub, s
	} else {
		domain, remainder = s[:i], s[i+1:]
	}
	if domain == dockerHub && !strings.ContainsRune(remainder, '/') {
		remainder = officialPrefix + remainder
	}
	return domain, remainder
}

// checkGrammar applies the rules of Docker's grammar that name does not
// (see the package doc).
func checkGrammar(repo name.Repository, tag string) error {
	for _, c := range strings.Split(repo.RepositoryStr(), "/") {
		if !pathComponent(c) {
			return invalid(errInvalidFormat)
		}
	}
	if tag != "" && !validTag(tag) {
		return invalid(errInvalidFormat)
	}
	return nil
}

// pathComponent reports whether c is [a-z0-9]+ (separator [a-z0-9]+)*.
func pathComponent(c string) bool {
	for i := 0; i < len(c); {
		j := i
		for j < len(c) && isAlnum(c[j]) {
			j++
		}
		if j == i {
			return false // empty, or a separator at the start or twice
		}
		if j == len(c) {
			return true
		}
		// A separator: ".", "_", "__" or a run of "-".
		k := j + 1
		switch c[j] {
		case '.':
		case '_':
			if k < len(c) && c[k] == '_' {
				k++
			}
		case '-':
			for k < len(c) && c[k] == '-' {
				k++
			}
		default:
			return false
		}
		if k == len(c) {
			return false // a separator at the end
		}
		i = k
	}
	return false
}

func validTag(t string) bool {
	if len(t) > 128 || !isWord(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !isWord(t[i]) && t[i] != '.' && t[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

func isWord(b byte) bool {
	return isAlnum(b) || b >= 'A' && b <= 'Z' || b == '_'
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func tagOf(r name.Reference) string {
	if t, ok := r.(name.Tag); ok {
		return t.TagStr()
	}
	return ""
}

func isDigest(r name.Reference) bool {
	_, ok := r.(name.Digest)
	return ok
}

// WithTag is dockerd's RepoTagReference, for the repo and tag parameters
// of tag, import and push: repo is a name, with or without a tag, that is
// not a digest reference; tag, when set, replaces its tag; the default is
// "latest".
func WithTag(repo, tag string) (name.Tag, error) {
	if repo == "" {
		return name.Tag{}, invalid(errNameEmpty)
	}
	r, err := Parse(repo)
	if err != nil {
		return name.Tag{}, err
	}
	if isDigest(r) {
		return name.Tag{}, invalid(errors.New("cannot import digest reference"))
	}
	if tag == "" {
		return r.(name.Tag), nil
	}
	if !validTag(tag) {
		return name.Tag{}, invalid(errTagFormat)
	}
	return r.Context().Tag(tag), nil
}

// WithTagOrDigest is the reference a pull asks for: fromImage (a trailing
// ":" is ignored, as "pull -a" sends one) with tag, which may be a digest
// ("sha256:…"), replacing what fromImage names.
func WithTagOrDigest(from, tag string) (name.Reference, error) {
	r, err := Parse(strings.TrimSuffix(from, ":"))
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return r, nil
	}
	if strings.Contains(tag, ":") {
		// dockerd reads a tag that is no digest as a tag, which cannot
		// hold a colon.
		d, err := name.NewDigest(r.Context().Name() + "@" + tag)
		if err != nil {
			return nil, invalid(errTagFormat)
		}
		return d, nil
	}
	if !validTag(tag) {
		return nil, invalid(errTagFormat)
	}
	return r.Context().Tag(tag), nil
}

// Familiar renders a reference as docker prints it: "name:tag" or
// "name@digest" with the familiar name (FamiliarName).
func Familiar(r name.Reference) string {
	switch r := r.(type) {
	case name.Tag:
		return FamiliarName(r.Repository) + ":" + r.TagStr()
	case name.Digest:
		return FamiliarName(r.Repository) + "@" + r.DigestStr()
	}
	return r.String()
}

// FamiliarName is a repository as docker prints it: without the Docker
// Hub registry, and without "library/" for an official image.
func FamiliarName(r name.Repository) string {
	path := r.RepositoryStr()
	if !onDockerHub(r) {
		return r.RegistryStr() + "/" + path
	}
	if rest, ok := strings.CutPrefix(path, officialPrefix); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return path
}

// FullName is a repository's normalised name as dockerd prints it in a
// push ("docker.io/library/busybox").
func FullName(r name.Repository) string {
	if onDockerHub(r) {
		return dockerHub + "/" + r.RepositoryStr()
	}
	return r.RegistryStr() + "/" + r.RepositoryStr()
}

// Path is a repository's path without its registry ("library/busybox"),
// as dockerd prints it in "Pulling from".
func Path(r name.Repository) string { return r.RepositoryStr() }

func onDockerHub(r name.Repository) bool {
	reg := r.RegistryStr()
	return reg == name.DefaultRegistry || reg == dockerHub
}
