package lambdaapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// Authorization: every operation is an IAM action (the names below, as
// Lambda's IAM actions are spelled) on the function its path names, or on
// no resource for ListFunctions; CreateFunction's function is in its
// body, so its handler checks it once decoded. The key's statements
// decide (identity.Allowed).
//
// Creating an image function, giving a function an image
// (UpdateFunctionCode with ImageUri) and changing what runs from its image
// (UpdateFunctionConfiguration with ImageConfig) need an admin key
// whatever the statements: the daemon would run any image in its store,
// or pull one with root's registry credentials, on the key's word. (When
// the registry grows ECR pull policies, these become a check of the key's
// right to pull the image.)

// identityKey is the context key of the request's verified identity.
type identityKey struct{}

func withIdentity(ctx context.Context, id *identity.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

func identityOf(ctx context.Context) *identity.Identity {
	id, _ := ctx.Value(identityKey{}).(*identity.Identity)
	return id
}

// accessDenied is Lambda's refusal of an action (IAM's message shape).
func accessDenied(id *identity.Identity, action, resource, why string) error {
	arn := "*"
	if resource != "" {
		arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", functions.DefaultRegion, functions.DefaultAccount, resource)
	}
	user := "anonymous"
	if id != nil {
		user = fmt.Sprintf("arn:aws:iam::%s:user/%s", functions.DefaultAccount, id.AccessKeyID)
	}
	return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException",
		msg: fmt.Sprintf("User: %s is not authorized to perform: lambda:%s on resource: %s %s", user, action, arn, why)}
}

// authorize checks that the request's key may perform action on the
// function named resource ("" for none).
func authorize(r *http.Request, action, resource string) error {
	id := identityOf(r.Context())
	if id == nil || !id.Allowed(action, resource) {
		return accessDenied(id, action, resource, "because no statement of the key allows it")
	}
	return nil
}

// authorizeAdmin checks that the request's key is an admin key, for an
// operation that needs one (see above).
func authorizeAdmin(r *http.Request, action, resource, what string) error {
	if err := authorize(r, action, resource); err != nil {
		return err
	}
	if id := identityOf(r.Context()); !identity.IsAdmin(id.Statements) {
		return accessDenied(id, action, resource, "because "+what+" needs an admin key (wharf keys create --admin)")
	}
	return nil
}

// pathResource is the function a request's path names, for authorization:
// its name when it parses, else the path value as sent (the handler then
// refuses it as invalid, if the key may try).
func pathResource(r *http.Request) string {
	raw := r.PathValue("name")
	if raw == "" {
		return ""
	}
	if name, _, err := functions.ParseName(raw); err == nil {
		return name
	}
	return raw
}
