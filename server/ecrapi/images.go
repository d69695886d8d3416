package ecrapi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
)

// imageID is ECR's ImageIdentifier.
type imageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

type imageFailure struct {
	ImageID       imageID `json:"imageId"`
	FailureCode   string  `json:"failureCode"`
	FailureReason string  `json:"failureReason"`
}

type imageOut struct {
	RegistryID             string  `json:"registryId"`
	RepositoryName         string  `json:"repositoryName"`
	ImageID                imageID `json:"imageId"`
	ImageManifest          string  `json:"imageManifest"`
	ImageManifestMediaType string  `json:"imageManifestMediaType,omitempty"`
}

type imageDetail struct {
	RegistryID             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
	ImagePushedAt          *epoch   `json:"imagePushedAt,omitempty"`
	ImageManifestMediaType string   `json:"imageManifestMediaType,omitempty"`
	ArtifactMediaType      string   `json:"artifactMediaType,omitempty"`
	LastRecordedPullTime   *epoch   `json:"lastRecordedPullTime,omitempty"`
}

type tagFilter struct {
	TagStatus string `json:"tagStatus"`
}

// keep reports whether an image with tags passes the filter (ECR's
// TAGGED, UNTAGGED, ANY).
func (f *tagFilter) keep(tags []string) (bool, error) {
	if f == nil {
		return true, nil
	}
	switch f.TagStatus {
	case "", "ANY":
		return true, nil
	case "TAGGED":
		return len(tags) > 0, nil
	case "UNTAGGED":
		return len(tags) == 0, nil
	}
	return false, invalidParam("Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]'")
}

// repoInput is the members every image operation has.
type repoInput struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
}

// begin authorizes action on the input's repository and checks it.
func (s *Server) begin(id *identity.Identity, action string, in repoInput) error {
	if err := s.authorize(id, action, in.RepositoryName); err != nil {
		return err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return err
	}
	return checkName(in.RepositoryName)
}

func (s *Server) listImages(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		NextToken  string     `json:"nextToken"`
		MaxResults int        `json:"maxResults"`
		Filter     *tagFilter `json:"filter"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "ListImages", in.repoInput); err != nil {
		return nil, err
	}
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		if after, err = parsePageToken(in.NextToken); err != nil {
			return nil, err
		}
	}
	imgs, err := s.reg.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	// One identifier per tag, one for an untagged image, in a stable
	// order for the pages.
	var ids []imageID
	for _, im := range imgs {
		ok, err := in.Filter.keep(im.Tags)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if len(im.Tags) == 0 {
			ids = append(ids, imageID{ImageDigest: im.Digest})
		}
		for _, t := range im.Tags {
			ids = append(ids, imageID{ImageDigest: im.Digest, ImageTag: t})
		}
	}
	key := func(i imageID) string { return i.ImageDigest + " " + i.ImageTag }
	sort.Slice(ids, func(a, b int) bool { return key(ids[a]) < key(ids[b]) })
	out := []imageID{}
	resp := map[string]any{}
	for _, i := range ids {
		if after != "" && key(i) <= after {
			continue
		}
		if len(out) == size {
			resp["nextToken"] = pageToken(key(out[len(out)-1]))
			break
		}
		out = append(out, i)
	}
	resp["imageIds"] = out
	return resp, nil
}

func (s *Server) detail(repo string, im registry.Image) imageDetail {
	return imageDetail{
		RegistryID: s.account, RepositoryName: repo, ImageDigest: im.Digest, ImageTags: im.Tags,
		ImageSizeInBytes: im.Size, ImagePushedAt: epochPtr(im.Pushed), ImageManifestMediaType: im.MediaType,
		ArtifactMediaType: im.ArtifactMediaType, LastRecordedPullTime: epochPtr(im.LastPull),
	}
}

func (s *Server) describeImages(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		ImageIDs   []imageID  `json:"imageIds"`
		NextToken  string     `json:"nextToken"`
		MaxResults int        `json:"maxResults"`
		Filter     *tagFilter `json:"filter"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "DescribeImages", in.repoInput); err != nil {
		return nil, err
	}
	out := []imageDetail{}
	if len(in.ImageIDs) > 0 {
		if in.MaxResults != 0 || in.NextToken != "" {
			return nil, invalidParam("maxResults and nextToken cannot be used with imageIds")
		}
		if len(in.ImageIDs) > 100 {
			return nil, invalidParam("at most 100 imageIds")
		}
		for _, iid := range in.ImageIDs {
			if iid.ImageDigest == "" && iid.ImageTag == "" {
				return nil, invalidParam("an imageId names an imageDigest or an imageTag")
			}
			im, _, err := s.reg.Image(ctx, in.RepositoryName, registry.ImageID{Digest: iid.ImageDigest, Tag: iid.ImageTag})
			if errors.Is(err, registry.ErrImageNotFound) {
				return nil, &apiError{typ: "ImageNotFoundException", msg: fmt.Sprintf("The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'", iid.ImageDigest, iid.ImageTag, in.RepositoryName, s.account)}
			}
			if err != nil {
				return nil, s.repoErr(err, in.RepositoryName)
			}
			out = append(out, s.detail(in.RepositoryName, im))
		}
		return map[string]any{"imageDetails": out}, nil
	}
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		if after, err = parsePageToken(in.NextToken); err != nil {
			return nil, err
		}
	}
	imgs, err := s.reg.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	sort.Slice(imgs, func(a, b int) bool { return imgs[a].Digest < imgs[b].Digest })
	resp := map[string]any{}
	for _, im := range imgs {
		ok, err := in.Filter.keep(im.Tags)
		if err != nil {
			return nil, err
		}
		if !ok || (after != "" && im.Digest <= after) {
			continue
		}
		if len(out) == size {
			resp["nextToken"] = pageToken(out[len(out)-1].ImageDigest)
			break
		}
		out = append(out, s.detail(in.RepositoryName, im))
	}
	resp["imageDetails"] = out
	return resp, nil
}

// failure is the failure entry of an image a batch could not handle.
func failure(iid imageID, err error) (imageFailure, bool) {
	f := imageFailure{ImageID: iid}
	switch {
	case iid.ImageDigest == "" && iid.ImageTag == "":
		f.FailureCode, f.FailureReason = "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
	case iid.ImageDigest != "" && digestInvalid(iid.ImageDigest):
		f.FailureCode, f.FailureReason = "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
	case err == nil:
		return f, false
	case errors.Is(err, registry.ErrImageNotFound) && iid.ImageDigest != "" && iid.ImageTag != "":
		f.FailureCode, f.FailureReason = "ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map to the given digest"
	case errors.Is(err, registry.ErrImageNotFound):
		f.FailureCode, f.FailureReason = "ImageNotFound", "Requested image not found"
	default:
		return f, false
	}
	return f, true
}

func digestInvalid(d string) bool {
	_, err := digest.Parse(d)
	return err != nil
}

// defaultAccepted are the manifest types BatchGetImage returns when the
// caller names none (ECR's default: Docker's and OCI's manifests).
var defaultAccepted = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

func (s *Server) batchGetImage(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		ImageIDs           []imageID `json:"imageIds"`
		AcceptedMediaTypes []string  `json:"acceptedMediaTypes"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "BatchGetImage", in.repoInput); err != nil {
		return nil, err
	}
	if len(in.ImageIDs) == 0 || len(in.ImageIDs) > 100 {
		return nil, invalidParam("Invalid parameter at 'imageIds': 1 to 100 imageIds")
	}
	if _, err := s.reg.Repository(ctx, in.RepositoryName); err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	accepted := in.AcceptedMediaTypes
	if len(accepted) == 0 {
		accepted = defaultAccepted
	}
	images, failures := []imageOut{}, []imageFailure{}
	for _, iid := range in.ImageIDs {
		if f, bad := failure(iid, nil); bad {
			failures = append(failures, f)
			continue
		}
		im, payload, err := s.reg.Image(ctx, in.RepositoryName, registry.ImageID{Digest: iid.ImageDigest, Tag: iid.ImageTag})
		if f, bad := failure(iid, err); bad {
			failures = append(failures, f)
			continue
		}
		if err != nil {
			return nil, s.repoErr(err, in.RepositoryName)
		}
		ok := false
		for _, mt := range accepted {
			ok = ok || strings.EqualFold(mt, im.MediaType)
		}
		if !ok {
			failures = append(failures, imageFailure{ImageID: iid, FailureCode: "ImageNotFound",
				FailureReason: fmt.Sprintf("the image's manifest is %s, which is not among acceptedMediaTypes", im.MediaType)})
			continue
		}
		s.reg.RecordPull(ctx, in.RepositoryName, im.Digest)
		images = append(images, imageOut{RegistryID: s.account, RepositoryName: in.RepositoryName,
			ImageID: imageID{ImageDigest: im.Digest, ImageTag: iid.ImageTag}, ImageManifest: string(payload), ImageManifestMediaType: im.MediaType})
	}
	return map[string]any{"images": images, "failures": failures}, nil
}

func (s *Server) batchDeleteImage(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		ImageIDs []imageID `json:"imageIds"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "BatchDeleteImage", in.repoInput); err != nil {
		return nil, err
	}
	if len(in.ImageIDs) == 0 || len(in.ImageIDs) > 100 {
		return nil, invalidParam("Invalid parameter at 'imageIds': 1 to 100 imageIds")
	}
	if _, err := s.reg.Repository(ctx, in.RepositoryName); err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	deleted, failures := []imageID{}, []imageFailure{}
	for _, iid := range in.ImageIDs {
		if f, bad := failure(iid, nil); bad {
			failures = append(failures, f)
			continue
		}
		del, err := s.reg.DeleteImage(ctx, in.RepositoryName, registry.ImageID{Digest: iid.ImageDigest, Tag: iid.ImageTag})
		d, tags := del.Digest, del.Tags
		if f, bad := failure(iid, err); bad {
			failures = append(failures, f)
			continue
		}
		if err != nil {
			return nil, s.repoErr(err, in.RepositoryName)
		}
		if len(tags) == 0 {
			deleted = append(deleted, imageID{ImageDigest: d})
		}
		for _, t := range tags {
			deleted = append(deleted, imageID{ImageDigest: d, ImageTag: t})
		}
	}
	return map[string]any{"imageIds": deleted, "failures": failures}, nil
}

func (s *Server) putImage(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		ImageManifest          string `json:"imageManifest"`
		ImageManifestMediaType string `json:"imageManifestMediaType"`
		ImageTag               string `json:"imageTag"`
		ImageDigest            string `json:"imageDigest"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "PutImage", in.repoInput); err != nil {
		return nil, err
	}
	if in.ImageManifest == "" || len(in.ImageManifest) > 4<<20 {
		return nil, invalidParam("Invalid parameter at 'imageManifest': 1 byte to 4 MiB")
	}
	im, err := s.reg.PutImage(ctx, in.RepositoryName, in.ImageTag, in.ImageManifestMediaType, in.ImageDigest, []byte(in.ImageManifest))
	switch {
	case errors.Is(err, registry.ErrImageExists):
		d := digest.FromString(in.ImageManifest)
		return nil, &apiError{typ: "ImageAlreadyExistsException", msg: fmt.Sprintf("Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", d, in.ImageTag, in.RepositoryName, s.account)}
	case errors.Is(err, registry.ErrTagImmutable):
		return nil, &apiError{typ: "ImageTagAlreadyExistsException", msg: fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", in.ImageTag, in.RepositoryName)}
	case err != nil:
		return nil, s.repoErr(err, in.RepositoryName)
	}
	return map[string]any{"image": imageOut{RegistryID: s.account, RepositoryName: in.RepositoryName,
		ImageID: imageID{ImageDigest: im.Digest, ImageTag: in.ImageTag}, ImageManifest: in.ImageManifest, ImageManifestMediaType: im.MediaType}}, nil
}
