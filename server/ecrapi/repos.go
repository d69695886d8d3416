package ecrapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
)

// tagsKey is the key of a repository's resource tags in its record.
const tagsKey = "ecr.tags"

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type scanningConfig struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type repositoryOut struct {
	RepositoryArn              string          `json:"repositoryArn"`
	RegistryID                 string          `json:"registryId"`
	RepositoryName             string          `json:"repositoryName"`
	RepositoryURI              string          `json:"repositoryUri"`
	CreatedAt                  *epoch          `json:"createdAt,omitempty"`
	ImageTagMutability         string          `json:"imageTagMutability"`
	ImageScanningConfiguration *scanningConfig `json:"imageScanningConfiguration"`
}

func (s *Server) repositoryOut(m registry.RepoMeta) repositoryOut {
	mut := m.TagMutability
	if mut == "" {
		mut = registry.TagsMutable
	}
	return repositoryOut{
		RepositoryArn: s.arn(m.Name), RegistryID: s.account, RepositoryName: m.Name,
		RepositoryURI: s.reg.Addr() + "/" + m.Name, CreatedAt: epochPtr(m.Created),
		ImageTagMutability: mut, ImageScanningConfiguration: &scanningConfig{},
	}
}

// nameRe is ECR's constraint on repository names.
var nameRe = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func checkName(name string) error {
	if len(name) < 2 || len(name) > 256 || !nameRe.MatchString(name) {
		return invalidParam("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '%s' and be 2 to 256 characters'", nameRe.String())
	}
	return nil
}

func checkMutability(v string) error {
	if v != registry.TagsMutable && v != registry.TagsImmutable {
		return invalidParam("Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE]' (got %q)", v)
	}
	return nil
}

func checkTags(tags []Tag) error {
	if len(tags) > 50 {
		return invalidParam("a resource has at most 50 tags")
	}
	for _, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 || utf8.RuneCountInString(t.Value) > 256 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidParam("tag key %q: 1 to 128 characters, not starting with aws:, and a value of at most 256", t.Key)
		}
	}
	return nil
}

func tagsOf(m registry.RepoMeta) []Tag {
	var tags []Tag
	if raw, ok := m.Extra[tagsKey]; ok {
		_ = json.Unmarshal(raw, &tags)
	}
	return tags
}

func setTags(m *registry.RepoMeta, tags []Tag) {
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	if m.Extra == nil {
		m.Extra = map[string]json.RawMessage{}
	}
	if len(tags) == 0 {
		delete(m.Extra, tagsKey)
		return
	}
	b, _ := json.Marshal(tags)
	m.Extra[tagsKey] = b
}

// mergeTags sets add over old, by key.
func mergeTags(old, add []Tag) []Tag {
	byKey := map[string]string{}
	for _, t := range old {
		byKey[t.Key] = t.Value
	}
	for _, t := range add {
		byKey[t.Key] = t.Value
	}
	out := make([]Tag, 0, len(byKey))
	for k, v := range byKey {
		out = append(out, Tag{Key: k, Value: v})
	}
	return out
}

func (s *Server) createRepository(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryID                 string           `json:"registryId"`
		RepositoryName             string           `json:"repositoryName"`
		Tags                       []Tag            `json:"tags"`
		ImageTagMutability         string           `json:"imageTagMutability"`
		ImageScanningConfiguration *scanningConfig  `json:"imageScanningConfiguration"`
		EncryptionConfiguration    *json.RawMessage `json:"encryptionConfiguration"`
		MutabilityExclusionFilters *json.RawMessage `json:"imageTagMutabilityExclusionFilters"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "CreateRepository", in.RepositoryName); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if err := checkName(in.RepositoryName); err != nil {
		return nil, err
	}
	if in.ImageTagMutability == "" {
		in.ImageTagMutability = registry.TagsMutable
	}
	if err := checkMutability(in.ImageTagMutability); err != nil {
		return nil, err
	}
	// What wharf cannot do is refused rather than echoed as if done.
	if in.ImageScanningConfiguration != nil && in.ImageScanningConfiguration.ScanOnPush {
		return nil, invalidParam("imageScanningConfiguration: wharf's registry does not scan images; scanOnPush must be false")
	}
	if in.EncryptionConfiguration != nil {
		return nil, invalidParam("encryptionConfiguration: wharf's registry does not encrypt what it stores; omit encryptionConfiguration")
	}
	if in.MutabilityExclusionFilters != nil {
		return nil, invalidParam("imageTagMutabilityExclusionFilters are not supported by wharf's registry")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	m, err := s.reg.CreateRepository(ctx, in.RepositoryName, func(m *registry.RepoMeta) error {
		m.TagMutability = in.ImageTagMutability
		setTags(m, mergeTags(nil, in.Tags))
		return nil
	})
	if errors.Is(err, registry.ErrRepositoryExists) {
		return nil, &apiError{typ: "RepositoryAlreadyExistsException", msg: fmt.Sprintf("The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, s.account)}
	}
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	return map[string]any{"repository": s.repositoryOut(m)}, nil
}

// repoErr words a missing repository as ECR does.
func (s *Server) repoErr(err error, name string) error {
	if errors.Is(err, registry.ErrRepositoryNotFound) {
		return &apiError{typ: "RepositoryNotFoundException", msg: fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, s.account)}
	}
	return err
}

// pageToken is an opaque nextToken: the last key of the page before.
func pageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("wharf1:" + last))
}

func parsePageToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "wharf1:") {
		return "", invalidParam("Invalid parameter at 'nextToken': not a token this API gave")
	}
	return strings.TrimPrefix(string(b), "wharf1:"), nil
}

// pageSize checks maxResults (0: the default of 100).
func pageSize(n int) (int, error) {
	if n == 0 {
		return 100, nil
	}
	if n < 1 || n > 1000 {
		return 0, invalidParam("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000'")
	}
	return n, nil
}

func (s *Server) describeRepositories(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryID      string   `json:"registryId"`
		RepositoryNames []string `json:"repositoryNames"`
		NextToken       string   `json:"nextToken"`
		MaxResults      int      `json:"maxResults"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	out := []repositoryOut{}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != 0 || in.NextToken != "" {
			return nil, invalidParam("maxResults and nextToken cannot be used with repositoryNames")
		}
		if len(in.RepositoryNames) > 100 {
			return nil, invalidParam("at most 100 repositoryNames")
		}
		for _, n := range in.RepositoryNames {
			if err := s.authorize(id, "DescribeRepositories", n); err != nil {
				return nil, err
			}
			if err := checkName(n); err != nil {
				return nil, err
			}
			m, err := s.reg.Repository(ctx, n)
			if err != nil {
				return nil, s.repoErr(err, n)
			}
			out = append(out, s.repositoryOut(m))
		}
		return map[string]any{"repositories": out}, nil
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
	all, err := s.reg.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{}
	for _, m := range all {
		if m.Name <= after || !id.Allowed("DescribeRepositories", m.Name) {
			continue
		}
		if len(out) == size {
			resp["nextToken"] = pageToken(out[len(out)-1].RepositoryName)
			break
		}
		out = append(out, s.repositoryOut(m))
	}
	resp["repositories"] = out
	return resp, nil
}

func (s *Server) deleteRepository(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryID     string `json:"registryId"`
		RepositoryName string `json:"repositoryName"`
		Force          bool   `json:"force"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "DeleteRepository", in.RepositoryName); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if err := checkName(in.RepositoryName); err != nil {
		return nil, err
	}
	m, err := s.reg.DeleteRepository(ctx, in.RepositoryName, in.Force)
	if errors.Is(err, registry.ErrRepositoryNotEmpty) {
		return nil, &apiError{typ: "RepositoryNotEmptyException", msg: fmt.Sprintf("The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", in.RepositoryName, s.account)}
	}
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	s.pmu.Lock()
	delete(s.previews, in.RepositoryName)
	s.pmu.Unlock()
	return map[string]any{"repository": s.repositoryOut(m)}, nil
}

func (s *Server) putImageTagMutability(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryID         string `json:"registryId"`
		RepositoryName     string `json:"repositoryName"`
		ImageTagMutability string `json:"imageTagMutability"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "PutImageTagMutability", in.RepositoryName); err != nil {
		return nil, err
	}
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if err := checkMutability(in.ImageTagMutability); err != nil {
		return nil, err
	}
	m, err := s.reg.UpdateRepository(ctx, in.RepositoryName, func(m *registry.RepoMeta) error {
		m.TagMutability = in.ImageTagMutability
		return nil
	})
	if err != nil {
		return nil, s.repoErr(err, in.RepositoryName)
	}
	return map[string]any{"registryId": s.account, "repositoryName": m.Name, "imageTagMutability": m.TagMutability}, nil
}

func (s *Server) getAuthorizationToken(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "GetAuthorizationToken", ""); err != nil {
		return nil, err
	}
	for _, r := range in.RegistryIDs {
		if err := s.checkRegistryID(r); err != nil {
			return nil, err
		}
	}
	tok, exp, err := s.tokens.AuthorizationToken(id.AccessKeyID)
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if s.reg.TLS() {
		scheme = "https://"
	}
	return map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": tok, "expiresAt": epoch(exp), "proxyEndpoint": scheme + s.reg.Addr(),
	}}}, nil
}

// repoOfArn returns the repository an ARN of this registry names.
func (s *Server) repoOfArn(arn string) (string, error) {
	prefix := fmt.Sprintf("arn:aws:ecr:%s:%s:repository/", s.region, s.account)
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || checkName(name) != nil {
		return "", invalidParam("Invalid parameter at 'resourceArn': %q is not the ARN of a repository of this registry (%s<name>)", arn, prefix)
	}
	return name, nil
}

func (s *Server) tagResource(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
		Tags        []Tag  `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := s.repoOfArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(id, "TagResource", name); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err = s.reg.UpdateRepository(ctx, name, func(m *registry.RepoMeta) error {
		tags := mergeTags(tagsOf(*m), in.Tags)
		if len(tags) > 50 {
			return invalidParam("a resource has at most 50 tags")
		}
		setTags(m, tags)
		return nil
	})
	if err != nil {
		return nil, s.repoErr(err, name)
	}
	return struct{}{}, nil
}

func (s *Server) untagResource(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := s.repoOfArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(id, "UntagResource", name); err != nil {
		return nil, err
	}
	_, err = s.reg.UpdateRepository(ctx, name, func(m *registry.RepoMeta) error {
		drop := map[string]bool{}
		for _, k := range in.TagKeys {
			drop[k] = true
		}
		var keep []Tag
		for _, t := range tagsOf(*m) {
			if !drop[t.Key] {
				keep = append(keep, t)
			}
		}
		setTags(m, keep)
		return nil
	})
	if err != nil {
		return nil, s.repoErr(err, name)
	}
	return struct{}{}, nil
}

func (s *Server) listTagsForResource(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := s.repoOfArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(id, "ListTagsForResource", name); err != nil {
		return nil, err
	}
	m, err := s.reg.Repository(ctx, name)
	if err != nil {
		return nil, s.repoErr(err, name)
	}
	tags := tagsOf(m)
	if tags == nil {
		tags = []Tag{}
	}
	return map[string]any{"tags": tags}, nil
}
