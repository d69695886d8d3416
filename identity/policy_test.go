package identity

import (
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func mustParse(t *testing.T, s string) Statement {
	t.Helper()
	st, err := ParseStatement(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAllowed(t *testing.T) {
	orders := []Statement{mustParse(t, "lambda:InvokeFunction,GetFunction:orders-*"), mustParse(t, "lambda:ListFunctions:*")}
	exact := []Statement{mustParse(t, "lambda:*:billing")}
	for _, tc := range []struct {
		name  string
		stmts []Statement
		req   Request
		want  bool
	}{
		{"default allows lambda", Effective(nil), Request{"lambda", "CreateFunction", "x"}, true},
		{"default allows list", Effective(nil), Request{"lambda", "ListFunctions", ""}, true},
		{"default is lambda only", Effective(nil), Request{"ecr", "BatchGetImage", "repo"}, false},
		{"admin allows any service", []Statement{AdminStatement}, Request{"ecs", "RunTask", "cluster/x"}, true},
		{"prefix", orders, Request{"lambda", "InvokeFunction", "orders-eu"}, true},
		{"prefix itself", orders, Request{"lambda", "GetFunction", "orders-"}, true},
		{"outside the prefix", orders, Request{"lambda", "InvokeFunction", "billing"}, false},
		{"action not listed", orders, Request{"lambda", "DeleteFunction", "orders-eu"}, false},
		{"actions ignore case", orders, Request{"lambda", "invokefunction", "orders-eu"}, true},
		{"service ignores case", orders, Request{"Lambda", "InvokeFunction", "orders-eu"}, true},
		{"other service", orders, Request{"ecr", "InvokeFunction", "orders-eu"}, false},
		{"no resource needs *", orders[:1], Request{"lambda", "GetFunction", ""}, false},
		{"list with * resource", orders, Request{"lambda", "ListFunctions", ""}, true},
		{"exact", exact, Request{"lambda", "InvokeFunction", "billing"}, true},
		{"exact is not a prefix", exact, Request{"lambda", "InvokeFunction", "billing2"}, false},
		{"no statements in a list allow nothing", []Statement{}, Request{"lambda", "GetFunction", "x"}, false},
	} {
		if got := Allowed(tc.stmts, tc.req); got != tc.want {
			t.Errorf("%s: Allowed(%v, %+v) = %v", tc.name, tc.stmts, tc.req, got)
		}
	}
	if !IsAdmin([]Statement{mustParse(t, "*:*:*")}) || IsAdmin(Effective(nil)) || IsAdmin([]Statement{mustParse(t, "*:*:x*")}) || IsAdmin([]Statement{mustParse(t, "*:GetFunction:*")}) {
		t.Error("IsAdmin")
	}
}

func TestParseStatement(t *testing.T) {
	st := mustParse(t, "lambda:InvokeFunction,GetFunction:orders-*")
	if st.Service != "lambda" || len(st.Actions) != 2 || st.Resource != "orders-*" || st.String() != "lambda:InvokeFunction,GetFunction:orders-*" {
		t.Fatalf("%+v", st)
	}
	// A resource may hold colons (an ARN-like name).
	if st := mustParse(t, "ecr:*:team/a:b"); st.Resource != "team/a:b" {
		t.Fatalf("resource %q", st.Resource)
	}
	for _, bad := range []string{"", "lambda", "lambda:*", "lambda::*", "lambda:*:", ":*:*", "Lambda:*:*", "lambda:Invoke Function:*",
		"lambda:*:a*b*", "lambda:*:a b", "lambda:a,,b:*", "lambda:*:*\n", "la_mbda:*:*", "lambda:lambda:Invoke:*x*"} {
		if _, err := ParseStatement(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseStatement(%q) = %v, want InvalidArgument", bad, err)
		}
	}
}

// Keys keep their statements; a key file with a statement that does not
// validate is not trusted.
func TestKeyStatementsPersist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys.json")
	k, _ := OpenKeys(p)
	admin, err := k.Create(AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := k.Create()
	if _, err := k.Create(Statement{Service: "lambda", Actions: []string{"no such"}, Resource: "*"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a bad statement: %v", err)
	}
	again, err := OpenKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Key{}
	for _, key := range again.List() {
		byID[key.AccessKeyID] = key
	}
	if !IsAdmin(byID[admin.AccessKeyID].Statements) || len(byID[plain.AccessKeyID].Statements) != 0 {
		t.Fatalf("statements after reopening: %+v", byID)
	}
}

func FuzzParseStatement(f *testing.F) {
	for _, s := range []string{"lambda:*:*", "*:*:*", "lambda:InvokeFunction,GetFunction:orders-*", "ecr:*:a:b:c", "lambda:*:**", "lambda:*:\x00", ":::", "lambda:" + string(make([]byte, 300)) + ":*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatement(s)
		if err != nil {
			return
		}
		// What parses is valid, prints back as given, and matches
		// without panicking.
		if err := st.Validate(); err != nil {
			t.Fatalf("%q parsed to an invalid statement: %v", s, err)
		}
		if st.String() != s {
			t.Fatalf("%q prints as %q", s, st.String())
		}
		_ = Allowed([]Statement{st}, Request{Service: "lambda", Action: "InvokeFunction", Resource: "orders"})
	})
}

// The registry's action model: docker's pull and push (groups) and ECR's
// own actions are decided by the same Allowed, in both directions.
func TestAllowedRegistryActions(t *testing.T) {
	pull := []Statement{mustParse(t, "ecr:pull:team/*")}
	pushApp := []Statement{mustParse(t, "ecr:pull,push:team/app")}
	ecrNames := []Statement{mustParse(t, "ecr:BatchGetImage,GetDownloadUrlForLayer:team/*")}
	split := []Statement{mustParse(t, "ecr:BatchGetImage:*"), mustParse(t, "ecr:GetDownloadUrlForLayer,BatchCheckLayerAvailability:team/*")}
	for _, tc := range []struct {
		name  string
		stmts []Statement
		req   Request
		want  bool
	}{
		{"pull group allows docker pull", pull, Request{"ecr", "pull", "team/app"}, true},
		{"pull group allows ECR's read", pull, Request{"ecr", "BatchGetImage", "team/app"}, true},
		{"pull group is not push", pull, Request{"ecr", "push", "team/app"}, false},
		{"pull group is not PutImage", pull, Request{"ecr", "PutImage", "team/app"}, false},
		{"pull outside the prefix", pull, Request{"ecr", "pull", "other/app"}, false},
		{"push group", pushApp, Request{"ecr", "push", "team/app"}, true},
		{"push group allows ECR's upload", pushApp, Request{"ecr", "CompleteLayerUpload", "team/app"}, true},
		{"push is not delete", pushApp, Request{"ecr", "delete", "team/app"}, false},
		{"push is for one repository", pushApp, Request{"ecr", "push", "team/app2"}, false},
		{"ECR names without BatchCheckLayerAvailability are not a docker pull", ecrNames, Request{"ecr", "pull", "team/app"}, false},
		{"ECR names allow themselves", ecrNames, Request{"ecr", "GetDownloadUrlForLayer", "team/x"}, true},
		{"a group's members may come from several statements", split, Request{"ecr", "pull", "team/app"}, true},
		{"and each must allow the resource", split, Request{"ecr", "pull", "other/app"}, false},
		{"admin pushes", []Statement{AdminStatement}, Request{"ecr", "push", "any/repo"}, true},
		{"groups ignore case", pull, Request{"ECR", "Pull", "team/app"}, true},
		{"a lambda key cannot pull", Effective(nil), Request{"ecr", "pull", "team/app"}, false},
		{"a group name is not a group of another service", []Statement{mustParse(t, "lambda:pull:*")}, Request{"lambda", "InvokeFunction", "f"}, false},
		{"* service with the pull group", []Statement{mustParse(t, "*:pull:*")}, Request{"ecr", "BatchGetImage", "a"}, true},
	} {
		if got := Allowed(tc.stmts, tc.req); got != tc.want {
			t.Errorf("%s: Allowed(%v, %+v) = %v", tc.name, tc.stmts, tc.req, got)
		}
	}
}
