package main

import (
	"bytes"
	"strings"
	"testing"
)

// pullStream is a canned daemon pull stream in docker's jsonmessage shape.
const pullStream = `{"id":"latest","status":"Pulling from library/alpine"}
{"id":"c6a83fedfae6","status":"Pulling fs layer"}
{"id":"c6a83fedfae6","status":"Downloading","progressDetail":{"current":1024,"total":3000000}}
{"id":"c6a83fedfae6","status":"Downloading","progressDetail":{"current":3000000,"total":3000000}}
{"id":"c6a83fedfae6","status":"Download complete"}
{"id":"c6a83fedfae6","status":"Extracting","progressDetail":{"current":3000000,"total":3000000}}
{"id":"c6a83fedfae6","status":"Pull complete"}
{"status":"Digest: sha256:abc"}
`

func TestPlainProgress(t *testing.T) {
	var b bytes.Buffer
	sum, err := renderProgress(strings.NewReader(pullStream), &plainProgress{out: &b})
	if err != nil {
		t.Fatal(err)
	}
	want := "latest: Pulling from library/alpine\nc6a83fedfae6: Pulling fs layer\nc6a83fedfae6: Download complete\nc6a83fedfae6: Pull complete\nDigest: sha256:abc\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	if sum.sawStatus || !sum.sawLayers {
		t.Errorf("summary = %+v", sum)
	}
}

func TestProgressError(t *testing.T) {
	stream := `{"id":"x","status":"Pulling fs layer"}
{"error":"manifest unknown: manifest unknown"}
{"id":"x","status":"Pull complete"}
`
	var b bytes.Buffer
	_, err := renderProgress(strings.NewReader(stream), &plainProgress{out: &b})
	if err == nil || err.Error() != "manifest unknown: manifest unknown" {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(b.String(), "Pull complete") {
		t.Error("messages after the error must not render")
	}
	if _, err := renderProgress(strings.NewReader("{bad"), discardProgress{}); err == nil {
		t.Error("a corrupt stream must fail")
	}
}

func TestStatusLineSeen(t *testing.T) {
	sum, err := renderProgress(strings.NewReader(`{"status":"Status: Image is up to date for alpine:latest"}`), discardProgress{})
	if err != nil || !sum.sawStatus || sum.sawLayers {
		t.Errorf("sum = %+v, err = %v", sum, err)
	}
}

func TestBarProgress(t *testing.T) {
	var b bytes.Buffer
	r := newBarProgress(&b)
	if _, err := renderProgress(strings.NewReader(pullStream+`{"id":"unfinished","status":"Waiting"}`+"\n"), r); err != nil {
		t.Fatal(err)
	}
	r.finish() // must return although one layer never completed
	out := b.String()
	for _, want := range []string{"latest: Pulling from library/alpine", "c6a83fedfae6: ", "Pull complete", "Digest: sha256:abc", "unfinished: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !r.bars["c6a83fedfae6"].bar.Completed() {
		t.Error("completed layer's bar is not complete")
	}
}
