package ecrapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
)

// Pull-through cache rules: ECR's Create/Describe/DeletePullThroughCacheRule
// over the registry's rules (registry/pullthrough.go). They name no
// repository: a statement on "*" allows them.

type ruleOut struct {
	EcrRepositoryPrefix string `json:"ecrRepositoryPrefix"`
	UpstreamRegistryURL string `json:"upstreamRegistryUrl"`
	CreatedAt           *epoch `json:"createdAt,omitempty"`
	RegistryID          string `json:"registryId"`
}

func (s *Server) ruleOut(r registry.PullThroughRule) ruleOut {
	return ruleOut{EcrRepositoryPrefix: r.Prefix, UpstreamRegistryURL: r.Upstream, CreatedAt: epochPtr(r.Created), RegistryID: s.account}
}

func (s *Server) ruleNotFound(prefix string) error {
	return &apiError{typ: "PullThroughCacheRuleNotFoundException", msg: fmt.Sprintf("The pull-through cache rule with prefix '%s' does not exist in the registry with id '%s'", prefix, s.account)}
}

func (s *Server) createPullThroughCacheRule(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		EcrRepositoryPrefix      string  `json:"ecrRepositoryPrefix"`
		UpstreamRegistryURL      string  `json:"upstreamRegistryUrl"`
		RegistryID               string  `json:"registryId"`
		UpstreamRegistry         string  `json:"upstreamRegistry"`
		CredentialArn            *string `json:"credentialArn"`
		CustomRoleArn            *string `json:"customRoleArn"`
		UpstreamRepositoryPrefix *string `json:"upstreamRepositoryPrefix"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreatePullThroughCacheRule", ""); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if in.CredentialArn != nil || in.CustomRoleArn != nil || in.UpstreamRepositoryPrefix != nil {
		return nil, invalidParam("wharf's pull-through cache reaches its upstream anonymously: credentialArn, customRoleArn and upstreamRepositoryPrefix are not supported")
	}
	rule, err := s.reg.CreatePullThroughRule(ctx, in.EcrRepositoryPrefix, in.UpstreamRegistryURL)
	if errors.Is(err, registry.ErrRuleExists) {
		return nil, &apiError{typ: "PullThroughCacheRuleAlreadyExistsException", msg: fmt.Sprintf("A pull-through cache rule with prefix '%s' already exists in the registry with id '%s'", in.EcrRepositoryPrefix, s.account)}
	}
	if err != nil {
		return nil, err
	}
	out := s.ruleOut(rule)
	return map[string]any{"ecrRepositoryPrefix": out.EcrRepositoryPrefix, "upstreamRegistryUrl": out.UpstreamRegistryURL,
		"createdAt": out.CreatedAt, "registryId": out.RegistryID}, nil
}

func (s *Server) describePullThroughCacheRules(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryID            string   `json:"registryId"`
		EcrRepositoryPrefixes []string `json:"ecrRepositoryPrefixes"`
		NextToken             string   `json:"nextToken"`
		MaxResults            int      `json:"maxResults"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "DescribePullThroughCacheRules", ""); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
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
	rules, err := s.reg.PullThroughRules(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, p := range in.EcrRepositoryPrefixes {
		want[p] = true
	}
	found := map[string]bool{}
	out := []ruleOut{}
	resp := map[string]any{}
	for _, r := range rules {
		if len(want) > 0 && !want[r.Prefix] {
			continue
		}
		found[r.Prefix] = true
		if after != "" && r.Prefix <= after {
			continue
		}
		if len(out) == size {
			resp["nextToken"] = pageToken(out[len(out)-1].EcrRepositoryPrefix)
			break
		}
		out = append(out, s.ruleOut(r))
	}
	for _, p := range in.EcrRepositoryPrefixes {
		if !found[p] {
			return nil, s.ruleNotFound(p)
		}
	}
	resp["pullThroughCacheRules"] = out
	return resp, nil
}

func (s *Server) deletePullThroughCacheRule(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		EcrRepositoryPrefix string `json:"ecrRepositoryPrefix"`
		RegistryID          string `json:"registryId"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "DeletePullThroughCacheRule", ""); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	rule, err := s.reg.DeletePullThroughRule(ctx, in.EcrRepositoryPrefix)
	if errors.Is(err, registry.ErrRuleNotFound) {
		return nil, s.ruleNotFound(in.EcrRepositoryPrefix)
	}
	if err != nil {
		return nil, err
	}
	return s.ruleOut(rule), nil
}
