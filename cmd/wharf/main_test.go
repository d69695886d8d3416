package main

import (
	"bytes"
	"slices"
	"testing"
)

func TestCommandTableMatchesTree(t *testing.T) {
	root := newRootCommand(nil)
	var built []string
	for _, c := range root.Commands() {
		built = append(built, c.Name())
		if len(c.Aliases) > 0 {
			// main picks the command by its name before cobra runs.
			t.Errorf("root command %q has aliases %v that main would not find", c.Name(), c.Aliases)
		}
	}
	var table []string
	for _, list := range [][]namedCommand{rootCommands, cliCommands} {
		for _, c := range list {
			table = append(table, c.name)
			if got := c.build().Name(); got != c.name {
				t.Errorf("table entry %q builds command %q", c.name, got)
			}
		}
	}
	slices.Sort(built)
	slices.Sort(table)
	if !slices.Equal(built, table) {
		t.Errorf("tree has %v, table has %v", built, table)
	}
}

func TestCommandWord(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"exec", "c", "true"}, "exec"},
		{[]string{"--host", "unix:///x", "exec", "c"}, "exec"},
		{[]string{"-H", "unix:///x", "ps", "-a"}, "ps"},
		{[]string{"--host=unix:///x", "run", "img"}, "run"},
		{[]string{"-Hunix:///x", "images"}, "images"},
		{[]string{"--help", "exec"}, ""},
		{[]string{"-H"}, ""},
		{[]string{"--", "exec"}, ""},
		{[]string{"no-such-command"}, "no-such-command"},
	} {
		if got := commandWord(tc.args); got != tc.want {
			t.Errorf("commandWord(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// The one-command tree must behave as the whole tree does for that command:
// same help, same flag errors.
func TestOneCommandTreeSameAsWhole(t *testing.T) {
	for _, args := range [][]string{
		{"exec", "--help"},
		{"--host", "unix:///nonexistent", "run", "--help"},
		{"container", "ls", "--help"},
		{"fn", "--help"},
		{"exec", "--no-such-flag", "c", "true"},
		{"run", "--memory", "10x", "img"},
		{"no-such-command"},
	} {
		run := func(lazy bool) string {
			var root = newRootCommand(nil)
			if lazy {
				root = newRootCommand(args)
				if len(root.Commands()) > 1 && commandWord(args) != "no-such-command" {
					t.Errorf("%q: built %d commands, want 1", args, len(root.Commands()))
				}
			}
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(args)
			err := root.Execute()
			if err != nil {
				out.WriteString("error: " + err.Error())
			}
			return out.String()
		}
		if whole, one := run(false), run(true); whole != one {
			t.Errorf("%q: whole tree says\n%s\none-command tree says\n%s", args, whole, one)
		}
	}
}
