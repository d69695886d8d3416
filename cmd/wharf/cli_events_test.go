package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
)

// An event prints as docker events prints it: local time with nine
// digits, type, action, actor, then the attributes sorted by key.
func TestEventLine(t *testing.T) {
	at := time.Date(2024, 3, 4, 5, 6, 7, 80, time.Local)
	ev := wharf.Event{Type: "container", Action: "die", Time: at.Unix(), TimeNano: at.UnixNano(),
		Actor: wharf.EventActor{ID: "abc", Attributes: map[string]string{"name": "web", "exitCode": "0", "image": "busybox"}}}
	want := at.Format("2006-01-02T15:04:05.000000000Z07:00") + " container die abc (exitCode=0, image=busybox, name=web)\n"
	if got := eventLine(ev); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	var b strings.Builder
	body := `{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"name":"none","type":"null"}},"scope":"local","time":1,"timeNano":1000000000}` + "\n"
	if err := printEvents(&b, strings.NewReader(body), "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"); err != nil {
		t.Fatal(err)
	}
	if b.String() != "network connect none\n" {
		t.Errorf("formatted %q", b.String())
	}
}
