package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
)

var testNow = time.Unix(1_700_000_000, 0)

func testContainers() []wharf.Container {
	return []wharf.Container{
		{ID: strings.Repeat("a", 64), Names: []string{"/web"}, Image: "nginx:latest", Command: "nginx -g 'daemon off;'",
			Created: testNow.Add(-90 * time.Second).Unix(), State: "running", Status: "Up About a minute", Labels: map[string]string{"b": "2", "a": "1"}},
		{ID: strings.Repeat("b", 64), Names: []string{"/job"}, Image: "sha256:" + strings.Repeat("c", 64), Command: "true",
			Created: testNow.Add(-3 * time.Hour).Unix(), State: "exited", Status: "Exited (0) 2 hours ago"},
	}
}

func psRows(noTrunc bool) []any {
	var rows []any
	for _, c := range testContainers() {
		rows = append(rows, containerRowOf(c, noTrunc, testNow))
	}
	return rows
}

func TestPsDefaultTable(t *testing.T) {
	var b bytes.Buffer
	if err := renderFormatted(&b, "", defaultPsFormat, psHeader(), psRows(false)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED              STATUS                   PORTS     NAMES\n" +
		"aaaaaaaaaaaa   nginx:latest   \"nginx -g 'daemon of…\"   About a minute ago   Up About a minute                  web\n" +
		"bbbbbbbbbbbb   cccccccccccc   \"true\"                   3 hours ago          Exited (0) 2 hours ago             job\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPsCustomFormats(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"{{.Names}} {{.State}}", "web running\njob exited\n"},
		{`table {{.Names}}\t{{.Label "a"}}`, "web       1\njob       \n"},
		{"table {{.ID}}\t{{.Labels}}", "CONTAINER ID   LABELS\naaaaaaaaaaaa   a=1,b=2\nbbbbbbbbbbbb   \n"},
		{"{{upper .Names}}|{{title .State}}|{{truncate .ID 4}}|{{pad .Names 1 1}}|{{join (split .Labels \",\") \";\"}}", "WEB|Running|aaaa| web |a=1;b=2\nJOB|Exited|bbbb| job |\n"},
		{"{{json .Names}}", "\"web\"\n\"job\"\n"},
	} {
		var b bytes.Buffer
		if err := renderFormatted(&b, tc.format, defaultPsFormat, psHeader(), psRows(false)); err != nil {
			t.Errorf("%q: %v", tc.format, err)
			continue
		}
		if b.String() != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, b.String(), tc.want)
		}
	}
}

func TestPsJSONFormat(t *testing.T) {
	var b bytes.Buffer
	if err := renderFormatted(&b, "json", defaultPsFormat, psHeader(), psRows(true)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one object per line, got %q", b.String())
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["ID"] != strings.Repeat("a", 64) || m["Names"] != "web" || m["Command"] != `"nginx -g 'daemon off;'"` || m["Status"] != "Up About a minute" {
		t.Errorf("json row = %v", m)
	}
}

func TestBadTemplate(t *testing.T) {
	err := renderFormatted(&bytes.Buffer{}, "{{.Nope", "", nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "template parsing error:") {
		t.Errorf("err = %v", err)
	}
	err = renderFormatted(&bytes.Buffer{}, "{{.Nope}}", "", nil, psRows(false))
	if err == nil {
		t.Error("unknown field must fail")
	}
}

func TestImagesTable(t *testing.T) {
	images := []wharf.ImageSummary{
		{ID: "sha256:" + strings.Repeat("1", 64), RepoTags: []string{"alpine:latest", "localhost:5000/alpine:3"}, Created: testNow.Add(-48 * time.Hour).Unix(), Size: 7_800_000},
		{ID: "sha256:" + strings.Repeat("2", 64), Created: testNow.Add(-30 * time.Second).Unix(), Size: 1234},
	}
	var rows []any
	for _, r := range imageRows(images, "", false, testNow) {
		rows = append(rows, r)
	}
	var b bytes.Buffer
	if err := renderFormatted(&b, "", defaultImagesFormat, imageHeader(), rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"REPOSITORY              TAG       IMAGE ID       CREATED          SIZE\n" +
		"<none>                  <none>    222222222222   30 seconds ago   1.23kB\n" +
		"alpine                  latest    111111111111   2 days ago       7.8MB\n" +
		"localhost:5000/alpine   3         111111111111   2 days ago       7.8MB\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if got := imageRows(images, "alpine", true, testNow); len(got) != 1 || got[0].ID != images[0].ID {
		t.Errorf("filtered rows = %+v", got)
	}
	if got := imageRows(images, "localhost:5000/alpine:3", false, testNow); len(got) != 1 || got[0].Tag != "3" {
		t.Errorf("filtered rows = %+v", got)
	}
}

func TestHumanising(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{humanSize(0), "0B"},
		{humanSize(5_580_000), "5.58MB"},
		{humanSize(1_234_567_890), "1.23GB"},
		{humanAgo(testNow.Add(-time.Second), testNow), "1 second ago"},
		{humanAgo(testNow.Add(-70*time.Second), testNow), "About a minute ago"},
		{humanAgo(testNow.Add(-3*time.Minute), testNow), "3 minutes ago"},
		{humanAgo(time.Time{}, testNow), ""},
		{shortID("sha256:0123456789abcdef"), "0123456789ab"},
		{shortID("abc"), "abc"},
		{ellipsis("hello world", 5), "hell…"},
		{ellipsis("héllo", 5), "héllo"},
		{titleCase("hello big-world"), "Hello Big-World"},
		{displayRef("alpine"), "alpine:latest"},
		{displayRef("localhost:5000/a/b"), "localhost:5000/a/b:latest"},
		{displayRef("a:1"), "a:1"},
		{displayRef("a@sha256:00"), "a@sha256:00"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind formatKind
		text string
	}{
		{"", formatTable, "{{.ID}}\t{{.Name}}"},
		{"table", formatTable, "{{.ID}}\t{{.Name}}"},
		{`table {{.ID}}\t{{.Image}}`, formatTable, "{{.ID}}\t{{.Image}}"},
		{"json", formatJSON, "{{json .}}"},
		{`{{.ID}}\n`, formatRaw, "{{.ID}}\n"},
	} {
		k, text := parseFormat(tc.in, "table {{.ID}}\t{{.Name}}")
		if k != tc.kind || text != tc.text {
			t.Errorf("%q: got %v %q", tc.in, k, text)
		}
	}
}

func TestParseFilters(t *testing.T) {
	got, err := parseFilters([]string{"status=exited", "label=a=b", "Name=web", "status=created"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"label":["a=b"],"name":["web"],"status":["exited","created"]}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := parseFilters([]string{"nokey"}); err == nil || err.Error() != "bad format of filter (expected name=value): nokey" {
		t.Errorf("err = %v", err)
	}
	if got, _ := parseFilters(nil); got != "" {
		t.Errorf("no filters must send nothing, got %q", got)
	}
}

func TestLastN(t *testing.T) {
	cts := testContainers()
	got := lastN([]wharf.Container{cts[1], cts[0]}, 1)
	if len(got) != 1 || got[0].ID != cts[0].ID {
		t.Errorf("lastN = %+v", got)
	}
	if got := lastN(cts, -1); len(got) != 2 {
		t.Errorf("-1 must keep all, got %d", len(got))
	}
}

func TestInspectTemplate(t *testing.T) {
	raw := json.RawMessage(`{"Id":"abc","Name":"/web","State":{"Pid":4242,"Running":true,"ExitCode":0},"Config":{"Image":"alpine"},"Extra":{"Big":12345678901}}`)
	for _, tc := range []struct{ format, want string }{
		{"{{.State.Pid}} {{.Name}} {{.Config.Image}}", "4242 /web alpine\n"},
		{"{{if eq .State.ExitCode 0}}ok{{end}}", "ok\n"},
		{"{{.Extra.Big}}", "12345678901\n"}, // only in the generic map
		{"{{json .State.Running}}", "true\n"},
	} {
		tmpl, err := parseTemplate(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := executeInspectTemplate(&b, tmpl, inspected{raw: raw}); err != nil {
			t.Errorf("%q: %v", tc.format, err)
		} else if b.String() != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, b.String(), tc.want)
		}
	}
}

func TestPrintJSONIndented(t *testing.T) {
	var b bytes.Buffer
	if err := printJSONIndented(&b, []json.RawMessage{json.RawMessage(`{"a":"<b>","c":[1]}`)}); err != nil {
		t.Fatal(err)
	}
	want := "[\n    {\n        \"a\": \"<b>\",\n        \"c\": [\n            1\n        ]\n    }\n]\n"
	if b.String() != want {
		t.Errorf("got %q", b.String())
	}
	b.Reset()
	_ = printJSONIndented(&b, []json.RawMessage{})
	if b.String() != "[]\n" {
		t.Errorf("empty = %q", b.String())
	}
}
