package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
)

// templateFuncs are the functions docker offers in --format templates, so
// that format strings written for docker work unchanged (a function, so
// that the map is built when a template is, not at every process's init).
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) string {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v)
			return strings.TrimSpace(buf.String())
		},
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    titleCase,
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      padWithSpace,
		"truncate": truncateWithLength,
		"println":  fmt.Sprintln,
	}
}

// titleCase upper-cases the first letter of every word, as strings.Title
// (which docker uses and which is deprecated) does for ASCII text.
func titleCase(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) || prev == '-' || prev == '_' {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// padWithSpace surrounds a non-empty string with spaces (docker's "pad").
func padWithSpace(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

// truncateWithLength cuts s to at most n bytes (docker's "truncate").
func truncateWithLength(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// parseTemplate compiles a --format template with docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs()).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %v", err)
	}
	return t, nil
}

// formatKind says how a --format value is rendered.
type formatKind int

const (
	formatRaw   formatKind = iota // a Go template, one execution per row
	formatTable                   // "table <template>": header and aligned columns
	formatJSON                    // "json": one JSON object per row
)

// parseFormat splits a --format value into its kind and template, using
// def (a "table ..." format) when the value is empty or just "table".
// Literal \t and \n are unescaped as docker does, because shells pass them
// through unchanged.
func parseFormat(format, def string) (formatKind, string) {
	switch {
	case format == "" || format == "table":
		format = def
	case format == "json":
		return formatJSON, "{{json .}}"
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		return formatTable, strings.TrimLeft(rest, " ")
	}
	return formatRaw, format
}

// newTabWriter returns the column writer docker's tables use.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

// renderFormatted writes rows with a --format value. header maps the field
// names used by the template to column titles, for tables. Each row is
// typically a struct with methods ({{.ID}}) that also marshals to JSON.
func renderFormatted(w io.Writer, format, def string, header map[string]string, rows []any) error {
	kind, text := parseFormat(format, def)
	tmpl, err := parseTemplate(text)
	if err != nil {
		return err
	}
	out := w
	var tw *tabwriter.Writer
	if kind == formatTable {
		tw = newTabWriter(w)
		out = tw
		// A template using functions with arguments on fields
		// ({{.Label "x"}}) cannot run on the header map; docker prints
		// an empty header for those, and so do we.
		var hb bytes.Buffer
		if tmpl.Option("missingkey=zero").Execute(&hb, header) == nil {
			hb.WriteByte('\n')
			_, _ = out.Write(hb.Bytes())
		}
	}
	for _, r := range rows {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, r); err != nil {
			return fmt.Errorf("template: %v", err)
		}
		b.WriteByte('\n')
		if _, err := out.Write(b.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// humanSize renders a byte count as docker's ps/images do ("5.58MB").
func humanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// humanAgo renders the time since t as docker's CREATED columns do
// ("About a minute ago"). Times in the future read "Less than a second ago".
func humanAgo(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// shortID returns the 12-hex-digit form of an id, with any "sha256:" prefix
// dropped, as docker's default (truncated) output shows ids.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ellipsis shortens s to max runes, marking the cut with "…".
func ellipsis(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	if max <= 1 {
		return string(r[:max])
	}
	return string(r[:max-1]) + "…"
}

// printJSONIndented writes v as docker inspect does: an indented JSON value
// followed by a newline, without HTML escaping.
func printJSONIndented(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
