package functions

import "testing"

func TestNames(t *testing.T) {
	for s, want := range map[string]bool{"live": true, "_x": true, "-x": true, "1": false, "1a": false, "$LATEST": false, "": false, "a b": false} {
		if got := ValidAliasName(s); got != want {
			t.Errorf("ValidAliasName(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{"1": true, "12": true, "": false, "-1": false, "+1": false, "live": false, "$LATEST": false} {
		if got := IsVersion(s); got != want {
			t.Errorf("IsVersion(%q) = %v", s, got)
		}
	}
	if FunctionArn("f") != "arn:aws:lambda:us-east-1:000000000000:function:f" {
		t.Errorf("FunctionArn = %s", FunctionArn("f"))
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"hello", "hello:1", "hello:live", "arn:aws:lambda:us-east-1:000000000000:function:hello", "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST", "000000000000:function:hello", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, _, err := ParseName(s)
		if err == nil && !ValidName(name, "") {
			t.Fatalf("%q parsed to invalid name %q", s, name)
		}
	})
}
