package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"sort"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	dauth "github.com/distribution/distribution/v3/registry/auth"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The OCI 1.1 referrers API, which Distribution 3.1 does not have:
//
//	GET /v2/<name>/referrers/<digest>[?artifactType=<type>]
//	→ 200 application/vnd.oci.image.index.v1+json, one descriptor per
//	  manifest of <name> whose subject is <digest> (OCI-Filters-Applied:
//	  artifactType when filtered)
//
// A manifest pushed with a subject gets a small record,
// wharf/repositories/<name>/_referrers/<subject alg>/<hex>/<alg>/<hex>,
// holding the descriptor the index lists (written after the manifest,
// removed after it is deleted); the list shows only records whose
// manifest the repository still has, so an interrupted write or delete
// never shows a referrer that is not there.

// maxReferrers bounds one answer.
const maxReferrers = 10000

func referrersRoot(name string) string {
	return path.Join("/wharf/repositories", name, "_referrers")
}

func referrersDir(name string, subject digest.Digest) string {
	return path.Join(referrersRoot(name), subject.Algorithm().String(), subject.Encoded())
}

func referrerPath(name string, subject, ref digest.Digest) string {
	return path.Join(referrersDir(name, subject), ref.Algorithm().String(), ref.Encoded())
}

// manifestFields are the fields of a manifest or index the referrers API
// reads.
type manifestFields struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// referrerOf returns the subject of a manifest and its descriptor in a
// referrers list; ok is false when it has no subject.
func referrerOf(mediaType string, payload []byte, dgst digest.Digest) (digest.Digest, v1.Descriptor, bool) {
	var m manifestFields
	if err := json.Unmarshal(payload, &m); err != nil || m.Subject == nil || m.Subject.Digest.Validate() != nil {
		return "", v1.Descriptor{}, false
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	at := m.ArtifactType
	if at == "" && m.Config != nil && mediaType == v1.MediaTypeImageManifest {
		at = m.Config.MediaType
	}
	return m.Subject.Digest, v1.Descriptor{
		MediaType: mediaType, Digest: dgst, Size: int64(len(payload)),
		ArtifactType: at, Annotations: m.Annotations,
	}, true
}

func (r *Registry) addReferrer(ctx context.Context, repo string, subject digest.Digest, desc v1.Descriptor) error {
	b, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	return r.driver.PutContent(ctx, referrerPath(repo, subject, desc.Digest), b)
}

func (r *Registry) removeReferrer(ctx context.Context, repo string, subject, ref digest.Digest) error {
	err := r.driver.Delete(ctx, referrerPath(repo, subject, ref))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// referrers lists the referrers of subject in repo, filtered by
// artifactType when it is not "".
func (r *Registry) referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	named, err := reference.WithName(repo)
	if err != nil {
		return nil, err
	}
	rp, err := r.ns.Repository(ctx, named)
	if err != nil {
		return nil, err
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	out := []v1.Descriptor{}
	var nf storagedriver.PathNotFoundError
	algs, err := r.driver.List(ctx, referrersDir(repo, subject))
	if errors.As(err, &nf) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, alg := range algs {
		files, err := r.driver.List(ctx, alg)
		if err != nil && !errors.As(err, &nf) {
			return nil, err
		}
		for _, f := range files {
			if len(out) >= maxReferrers {
				break
			}
			b, err := r.driver.GetContent(ctx, f)
			if errors.As(err, &nf) {
				continue
			}
			if err != nil {
				return nil, err
			}
			var d v1.Descriptor
			if json.Unmarshal(b, &d) != nil || d.Digest.Validate() != nil {
				continue
			}
			if ok, err := ms.Exists(ctx, d.Digest); err != nil || !ok {
				continue
			}
			if artifactType != "" && d.ArtifactType != artifactType {
				continue
			}
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

func (r *Registry) serveReferrers(w *respWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported)
		return
	}
	name, ds, _ := referrersPath(req.URL.Path)
	access := []dauth.Access{{Resource: dauth.Resource{Type: "repository", Name: name}, Action: "pull"}}
	if _, err := r.access.Authorized(req, access...); err != nil {
		var ch dauth.Challenge
		if errors.As(err, &ch) {
			ch.SetHeaders(req, w)
		}
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnauthorized.WithDetail(access))
		return
	}
	subject, err := digest.Parse(ds)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(err.Error()))
		return
	}
	at := req.URL.Query().Get("artifactType")
	list, err := r.referrers(req.Context(), name, subject, at)
	if err != nil {
		if errors.Is(err, reference.ErrNameNotCanonical) || errors.Is(err, reference.ErrNameContainsUppercase) || errors.Is(err, reference.ErrReferenceInvalidFormat) || errors.Is(err, reference.ErrNameTooLong) {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail(err.Error()))
			return
		}
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: list}
	idx.SchemaVersion = 2
	b, err := json.Marshal(idx)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	w.Header().Set("Docker-Content-Digest", digest.FromBytes(b).String())
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

var _ distribution.ManifestService = (*manifests)(nil)
