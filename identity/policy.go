package identity

import (
	"fmt"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// Policies.
//
// A key holds a list of statements; a request is allowed when one of them
// allows it. A statement names a service of wharf's AWS-shaped APIs
// ("lambda", "ecr", "ecs", and "batch" as it comes, or "*"), actions as
// IAM spells them ("InvokeFunction", "CreateFunction", or "*"), and the
// resources it covers: "*" for all, "name*" for every name starting with
// "name", or one exact name. The resource is the name within the service
// (a function's name for Lambda); an action that names no resource
// (ListFunctions) is allowed only by a statement whose resource is "*".
// Service and action names match without regard to case, as IAM's do.
//
// Written as a string (`wharf keys create --policy`), a statement is
// service:actions:resource with actions separated by commas:
//
//	lambda:*:*                                 all of Lambda
//	lambda:InvokeFunction,GetFunction:orders-* invoke and read the functions orders-...
//	*:*:*                                      everything (an admin key)
//
// A key without statements (keys created before policies existed, or with
// neither --admin nor --policy) has DefaultStatements. Some operations
// need an admin key whatever the statements say: see IsAdmin's callers.
//
// The registry. ECR's service is "ecr" and its resource a repository name
// ("team/app"; "team/*" is every repository under team/). Its actions are
// ECR's own (BatchGetImage, PutImage, CreateRepository, ...), which the
// ECR API asks for one at a time, and three groups that name what the
// Docker registry protocol asks for in a token scope:
//
//	pull    BatchGetImage, GetDownloadUrlForLayer, BatchCheckLayerAvailability
//	push    InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, PutImage,
//	        BatchCheckLayerAvailability
//	delete  BatchDeleteImage
//
// A group is both an action a request can ask for and a shorthand a
// statement can hold. Asked for, it is allowed when each of its members
// is (by one statement or several): `docker push` needs what an ECR
// client pushing the same image would need. Held, it allows its members:
// `ecr:pull:team/*` lets the ECR API's BatchGetImage read team/app too.
// One function, Allowed, decides both.
//
//	ecr:pull:team/*                            docker pull from team/...
//	ecr:pull,push:team/app                     docker pull and push of team/app
//	ecr:BatchGetImage,DescribeImages:team/*    the same reads through the ECR API
//
// Clusters. ECS's service is "ecs", its actions ECS's operation names
// (RegisterTaskDefinition, DescribeTaskDefinition, ListContainerInstances,
// ...), its resource the task definition family or the cluster name the
// call names:
//
//	ecs:*:*                                              all of ECS
//	ecs:RegisterTaskDefinition,DescribeTaskDefinition:web-*   the families web-...

// Statement allows a service's actions on resources.
type Statement struct {
	Service  string
	Actions  []string
	Resource string
}

// Request is what a request asks of a key's statements.
type Request struct {
	Service  string
	Action   string
	Resource string // "": the action names no resource
}

// AdminStatement allows everything.
var AdminStatement = Statement{Service: "*", Actions: []string{"*"}, Resource: "*"}

// DefaultStatements are the statements of a key that has none: the whole
// Lambda API on every function (creating and updating image functions
// still needs an admin key).
var DefaultStatements = []Statement{{Service: "lambda", Actions: []string{"*"}, Resource: "*"}}

// Effective returns the statements that apply to a key holding stmts.
func Effective(stmts []Statement) []Statement {
	if len(stmts) == 0 {
		return DefaultStatements
	}
	return stmts
}

// actionGroups are the action groups of each service (see above). The
// members are IAM's spelling of the service's actions.
var actionGroups = map[string]map[string][]string{
	"ecr": {
		"pull":   {"BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability"},
		"push":   {"InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "PutImage", "BatchCheckLayerAvailability"},
		"delete": {"BatchDeleteImage"},
	},
}

// group returns the members of a service's action group, or nil when
// action is not a group of that service.
func group(service, action string) []string {
	return actionGroups[strings.ToLower(service)][strings.ToLower(action)]
}

// Allowed reports whether stmts allow req. It is the one place a policy
// is decided. A request for an action group is allowed when every member
// of the group is.
func Allowed(stmts []Statement, req Request) bool {
	if members := group(req.Service, req.Action); members != nil {
		for _, m := range members {
			if !allowedOne(stmts, Request{Service: req.Service, Action: m, Resource: req.Resource}) {
				return false
			}
		}
		return true
	}
	return allowedOne(stmts, req)
}

func allowedOne(stmts []Statement, req Request) bool {
	for _, st := range stmts {
		if st.allows(req) {
			return true
		}
	}
	return false
}

func (st Statement) allows(req Request) bool {
	if st.Service != "*" && !strings.EqualFold(st.Service, req.Service) {
		return false
	}
	action := false
	for _, a := range st.Actions {
		if a == "*" || strings.EqualFold(a, req.Action) || memberOf(req.Action, group(req.Service, a)) {
			action = true
			break
		}
	}
	if !action {
		return false
	}
	switch {
	case st.Resource == "*":
		return true
	case req.Resource == "":
		return false
	case strings.HasSuffix(st.Resource, "*"):
		return strings.HasPrefix(req.Resource, strings.TrimSuffix(st.Resource, "*"))
	default:
		return st.Resource == req.Resource
	}
}

// memberOf reports whether action is one of members, without regard to
// case.
func memberOf(action string, members []string) bool {
	for _, m := range members {
		if strings.EqualFold(m, action) {
			return true
		}
	}
	return false
}

// IsAdmin reports whether stmts allow everything: every action of every
// service on every resource.
func IsAdmin(stmts []Statement) bool {
	for _, st := range stmts {
		if st.Service == "*" && st.Resource == "*" {
			for _, a := range st.Actions {
				if a == "*" {
					return true
				}
			}
		}
	}
	return false
}

// ParseStatement parses service:actions:resource (see the package's
// policy documentation). Errors are ErrInvalidArgument.
func ParseStatement(s string) (Statement, error) {
	svc, rest, ok1 := strings.Cut(s, ":")
	actions, resource, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Statement{}, fmt.Errorf("policy %q: want service:actions:resource (e.g. lambda:*:* or lambda:InvokeFunction:orders-*): %w", s, errdefs.ErrInvalidArgument)
	}
	st := Statement{Service: svc, Actions: strings.Split(actions, ","), Resource: resource}
	if err := st.Validate(); err != nil {
		return Statement{}, fmt.Errorf("policy %q: %w", s, err)
	}
	return st, nil
}

// String is the statement as ParseStatement reads it.
func (st Statement) String() string {
	return st.Service + ":" + strings.Join(st.Actions, ",") + ":" + st.Resource
}

// Validate checks a statement's names. Errors are ErrInvalidArgument.
func (st Statement) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if st.Service != "*" && !isName(st.Service, false) {
		return bad("service %q is not a service name (lambda, ecr, ...) or *", st.Service)
	}
	if len(st.Actions) == 0 || len(st.Actions) > 64 {
		return bad("a statement names 1 to 64 actions")
	}
	for _, a := range st.Actions {
		if a != "*" && !isName(a, true) {
			return bad("action %q is not an action name (InvokeFunction, ...) or *", a)
		}
	}
	if st.Resource == "" || len(st.Resource) > 256 || strings.ContainsAny(st.Resource, " \t\r\n") || strings.Contains(strings.TrimSuffix(st.Resource, "*"), "*") {
		return bad("resource %q is not *, a name, or a name prefix ending in *", st.Resource)
	}
	return nil
}

// isName reports whether s is 1-64 letters, digits or dashes (service
// names: lower case; action names: letters and digits).
func isName(s string, action bool) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case action && 'A' <= c && c <= 'Z':
		case !action && c == '-':
		default:
			return false
		}
	}
	return true
}
