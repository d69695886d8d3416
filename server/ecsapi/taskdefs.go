package ecsapi

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// taskDefOut is a task definition as ECS returns it.
type taskDefOut struct {
	state.TaskDefinition
	RegisteredAt   *epoch `json:"registeredAt,omitempty"`
	DeregisteredAt *epoch `json:"deregisteredAt,omitempty"`
}

func (s *Server) out(td state.TaskDefinition) taskDefOut {
	td.TaskDefinitionArn = s.arn("task-definition", td.Family+":"+strconv.Itoa(td.Revision))
	td.Compatibilities = compatibilities(td)
	o := taskDefOut{TaskDefinition: td, RegisteredAt: epochPtr(td.RegisteredAt), DeregisteredAt: epochPtr(td.DeregisteredAt)}
	o.TaskDefinition.RegisteredAt, o.TaskDefinition.DeregisteredAt = nil, nil
	return o
}

// compatibilities are the launch types a definition suits, as ECS
// computes them.
func compatibilities(td state.TaskDefinition) []string {
	out := []string{"EC2"}
	if td.NetworkMode == "awsvpc" && td.Cpu != "" && td.Memory != "" {
		out = append(out, "FARGATE")
	}
	return out
}

type registerIn struct {
	state.TaskDefinition
}

func (s *Server) registerTaskDefinition(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in registerIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	td := in.TaskDefinition
	td.Revision, td.Status, td.TaskDefinitionArn, td.Compatibilities = 0, "", "", nil
	td.RegisteredAt, td.DeregisteredAt = nil, nil
	if err := s.authorize(id, "RegisterTaskDefinition", td.Family); err != nil {
		return nil, err
	}
	if err := Validate(&td); err != nil {
		return nil, err
	}
	td, err := s.st.RegisterTaskDef(ctx, td, s.now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": s.out(td), "tags": td.Tags}, nil
}

// parseRef splits "family", "family:rev" or a task definition ARN.
func parseRef(ref string) (family string, rev int, err error) {
	if i := strings.Index(ref, ":task-definition/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	family, r, ok := strings.Cut(ref, ":")
	if family == "" || !familyRE.MatchString(family) {
		return "", 0, clientErr("Unable to describe task definition.")
	}
	if !ok {
		return family, 0, nil
	}
	rev, err = strconv.Atoi(r)
	if err != nil || rev < 1 {
		return "", 0, clientErr("Invalid revision number. Number: %s", r)
	}
	return family, rev, nil
}

// resolve finds a task definition: a revision, or the family's latest
// ACTIVE one.
func (s *Server) resolve(ctx context.Context, ref string) (state.TaskDefinition, error) {
	family, rev, err := parseRef(ref)
	if err != nil {
		return state.TaskDefinition{}, err
	}
	if rev > 0 {
		e, err := s.st.TaskDefs().Get(ctx, state.TaskDefKey(family, rev))
		if errdefs.IsNotFound(err) {
			return state.TaskDefinition{}, clientErr("Unable to describe task definition.")
		}
		return e.Value, err
	}
	f, err := s.st.Families().Get(ctx, family)
	if errdefs.IsNotFound(err) {
		return state.TaskDefinition{}, clientErr("Unable to describe task definition.")
	}
	if err != nil {
		return state.TaskDefinition{}, err
	}
	for r := f.Value.LastRevision; r >= 1; r-- {
		e, err := s.st.TaskDefs().Get(ctx, state.TaskDefKey(family, r))
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return state.TaskDefinition{}, err
		}
		if e.Value.Status == state.TaskDefActive {
			return e.Value, nil
		}
	}
	return state.TaskDefinition{}, clientErr("Unable to describe task definition.")
}

func (s *Server) describeTaskDefinition(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TaskDefinition == "" {
		return nil, clientErr("TaskDefinition cannot be empty.")
	}
	family, _, err := parseRef(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(id, "DescribeTaskDefinition", family); err != nil {
		return nil, err
	}
	td, err := s.resolve(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": s.out(td), "tags": td.Tags}, nil
}

func (s *Server) deregisterTaskDefinition(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	family, rev, err := parseRef(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, clientErr("The specified task definition identifier is invalid. Specify a valid name or ARN and revision.")
	}
	if err := s.authorize(id, "DeregisterTaskDefinition", family); err != nil {
		return nil, err
	}
	td, err := s.st.DeregisterTaskDef(ctx, family, rev, s.now())
	if errdefs.IsNotFound(err) {
		return nil, clientErr("The specified task definition does not exist.")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": s.out(td)}, nil
}

// page applies ECS's maxResults/nextToken paging to a sorted list: the
// token is the index to resume at.
func page[T any](all []T, max int, token string) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", invalidParam("Invalid nextToken.")
		}
		start = n
	}
	if max <= 0 || max > 100 {
		max = 100
	}
	end := min(start+max, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

func (s *Server) listTaskDefinitions(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		Sort         string `json:"sort"`
		MaxResults   int    `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "ListTaskDefinitions", ""); err != nil {
		return nil, err
	}
	status := strings.ToUpper(in.Status)
	if status == "" {
		status = state.TaskDefActive
	}
	if status != state.TaskDefActive && status != state.TaskDefInactive {
		return nil, invalidParam("status must be ACTIVE or INACTIVE")
	}
	all, err := s.st.TaskDefs().List(ctx)
	if err != nil {
		return nil, err
	}
	var tds []state.TaskDefinition
	for _, e := range all {
		td := e.Value
		if td.Status != status || in.FamilyPrefix != "" && !strings.HasPrefix(td.Family, in.FamilyPrefix) {
			continue
		}
		tds = append(tds, td)
	}
	sort.Slice(tds, func(i, j int) bool {
		if tds[i].Family != tds[j].Family {
			return tds[i].Family < tds[j].Family
		}
		return tds[i].Revision < tds[j].Revision
	})
	if strings.EqualFold(in.Sort, "DESC") {
		for i, j := 0, len(tds)-1; i < j; i, j = i+1, j-1 {
			tds[i], tds[j] = tds[j], tds[i]
		}
	}
	arns := make([]string, 0, len(tds))
	for _, td := range tds {
		arns = append(arns, s.arn("task-definition", td.Family+":"+strconv.Itoa(td.Revision)))
	}
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskDefinitionArns": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (s *Server) listTaskDefinitionFamilies(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		MaxResults   int    `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.authorize(id, "ListTaskDefinitionFamilies", ""); err != nil {
		return nil, err
	}
	status := strings.ToUpper(in.Status)
	if status == "" {
		status = state.TaskDefActive
	}
	all, err := s.st.TaskDefs().List(ctx)
	if err != nil {
		return nil, err
	}
	active := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range all {
		seen[e.Value.Family] = true
		if e.Value.Status == state.TaskDefActive {
			active[e.Value.Family] = true
		}
	}
	var fams []string
	for f := range seen {
		if in.FamilyPrefix != "" && !strings.HasPrefix(f, in.FamilyPrefix) {
			continue
		}
		switch status {
		case "ALL":
		case state.TaskDefActive:
			if !active[f] {
				continue
			}
		case state.TaskDefInactive:
			if active[f] {
				continue
			}
		default:
			return nil, invalidParam("status must be ACTIVE, INACTIVE or ALL")
		}
		fams = append(fams, f)
	}
	sort.Strings(fams)
	pg, next, err := page(fams, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"families": pg}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
