package ecrapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
)

// A lifecycle preview is computed when it is started (it is a pure
// function of the policy and the listing: registry.PreviewLifecycle) and
// kept until the next one of the same repository, so that
// GetLifecyclePolicyPreview answers COMPLETE at once.

// maxPreviews bounds the previews kept (the oldest goes first).
const maxPreviews = 1024

type preview struct {
	text    string
	at      time.Time
	expired []registry.Expiry
}

func (s *Server) policyNotFound(repo string) error {
	return &apiError{typ: "LifecyclePolicyNotFoundException", msg: fmt.Sprintf("Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, s.account)}
}

func (s *Server) putLifecyclePolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		LifecyclePolicyText string `json:"lifecyclePolicyText"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "PutLifecyclePolicy", in.repoInput); err != nil {
		return nil, err
	}
	if in.LifecyclePolicyText == "" {
		return nil, invalidParam("Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'")
	}
	m, err := s.reg.SetLifecyclePolicy(ctx, in.RepositoryName, in.LifecyclePolicyText)
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	return map[string]any{"registryId": s.account, "repositoryName": m.Name, "lifecyclePolicyText": m.LifecyclePolicy}, nil
}

func (s *Server) getLifecyclePolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in repoInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "GetLifecyclePolicy", in); err != nil {
		return nil, err
	}
	m, err := s.reg.Repository(ctx, in.RepositoryName)
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	if m.LifecyclePolicy == "" {
		return nil, s.policyNotFound(in.RepositoryName)
	}
	return map[string]any{"registryId": s.account, "repositoryName": m.Name, "lifecyclePolicyText": m.LifecyclePolicy,
		"lastEvaluatedAt": epoch(m.LifecyclePolicyUpdated)}, nil
}

func (s *Server) deleteLifecyclePolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in repoInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "DeleteLifecyclePolicy", in); err != nil {
		return nil, err
	}
	m, err := s.reg.DeleteLifecyclePolicy(ctx, in.RepositoryName)
	if errors.Is(err, registry.ErrPolicyNotFound) {
		return nil, s.policyNotFound(in.RepositoryName)
	}
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	return map[string]any{"registryId": s.account, "repositoryName": m.Name, "lifecyclePolicyText": m.LifecyclePolicy,
		"lastEvaluatedAt": epoch(m.LifecyclePolicyUpdated)}, nil
}

func (s *Server) startLifecyclePolicyPreview(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		repoInput
		LifecyclePolicyText string `json:"lifecyclePolicyText"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.begin(id, "StartLifecyclePolicyPreview", in.repoInput); err != nil {
		return nil, err
	}
	text := in.LifecyclePolicyText
	if text == "" {
		m, err := s.reg.Repository(ctx, in.RepositoryName)
		if err != nil {
			return nil, s.repoErr(err, in.RepositoryName)
		}
		if m.LifecyclePolicy == "" {
			return nil, s.policyNotFound(in.RepositoryName)
		}
		text = m.LifecyclePolicy
	}
	exp, err := s.reg.PreviewLifecycle(ctx, in.RepositoryName, text)
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	s.pmu.Lock()
	if _, ok := s.previews[in.RepositoryName]; !ok && len(s.previews) >= maxPreviews {
		oldest := ""
		for k, p := range s.previews {
			if oldest == "" || p.at.Before(s.previews[oldest].at) {
				oldest = k
			}
		}
		delete(s.previews, oldest)
	}
	s.previews[in.RepositoryName] = &preview{text: text, at: s.now(), expired: exp}
	s.pmu.Unlock()
	return map[string]any{"registryId": s.account, "repositoryName": in.RepositoryName, "lifecyclePolicyText": text, "status": "IN_PROGRESS"}, nil
}

type previewResult struct {
	ImageTags           []string          `json:"imageTags,omitempty"`
	ImageDigest         string            `json:"imageDigest"`
	ImagePushedAt       *epoch            `json:"imagePushedAt,omitempty"`
	Action              map[string]string `json:"action"`
	AppliedRulePriority int               `json:"appliedRulePriority"`
}

func (s *Server) getLifecyclePolicyPreview(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
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
	if err := s.begin(id, "GetLifecyclePolicyPreview", in.repoInput); err != nil {
		return nil, err
	}
	if _, err := s.reg.Repository(ctx, in.RepositoryName); err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	s.pmu.Lock()
	p := s.previews[in.RepositoryName]
	s.pmu.Unlock()
	if p == nil {
		return nil, &apiError{typ: "LifecyclePolicyPreviewNotFoundException", msg: fmt.Sprintf("There is no lifecycle policy preview for the repository with name '%s' in the registry with id '%s'", in.RepositoryName, s.account)}
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
	want := map[string]bool{}
	for _, iid := range in.ImageIDs {
		want[iid.ImageDigest] = true
		want["tag:"+iid.ImageTag] = true
	}
	results := []previewResult{}
	resp := map[string]any{"registryId": s.account, "repositoryName": in.RepositoryName, "lifecyclePolicyText": p.text, "status": "COMPLETE",
		"summary": map[string]int{"expiringImageTotalCount": len(p.expired)}}
	last := ""
	for i, e := range p.expired {
		ok, err := in.Filter.keep(e.Image.Tags)
		if err != nil {
			return nil, err
		}
		if !ok || (len(want) > 0 && !want[e.Image.Digest] && !anyTagWanted(want, e.Image.Tags)) {
			continue
		}
		key := fmt.Sprintf("%08d", i)
		if after != "" && key <= after {
			continue
		}
		if len(results) == size {
			resp["nextToken"] = pageToken(last)
			break
		}
		last = key
		results = append(results, previewResult{ImageTags: e.Image.Tags, ImageDigest: e.Image.Digest, ImagePushedAt: epochPtr(e.Image.Pushed),
			Action: map[string]string{"type": "EXPIRE"}, AppliedRulePriority: e.RulePriority})
	}
	resp["previewResults"] = results
	return resp, nil
}

func anyTagWanted(want map[string]bool, tags []string) bool {
	for _, t := range tags {
		if want["tag:"+t] {
			return true
		}
	}
	return false
}
