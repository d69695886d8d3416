package events

import (
	"strings"

	"github.com/wharf-dev/wharf/image/reference"
)

// Filter selects events as dockerd's events filters do: each key present
// must match (keys are ANDed), any of a key's values may (values are
// ORed), except label, whose values must all match.
//
//	type       the event's type, exactly
//	event      the action, exactly ("exec_create", "exec_start" and
//	           "health_status" also match their "action: detail" forms)
//	scope      "local"
//	container, network, volume, daemon (and plugin, service, node,
//	           secret, config): the actor's ID or name attribute, or a
//	           prefix of either, on any event
//	image      a container event's image or an image event's name or ID,
//	           with or without its tag
//	label      "key" or "key=value" among the attributes
//
// Keys dockerd does not know are ignored, as dockerd ignores them.
type Filter map[string][]string

// fuzzyKeys are the filters matched by ID or name prefix.
var fuzzyKeys = []string{"container", "network", "volume", "daemon", "plugin", "service", "node", "secret", "config"}

// Match reports whether the event passes the filter.
func (f Filter) Match(ev Event) bool {
	if !f.matchAction(ev.Action) || !f.exact("type", ev.Type) || !f.exact("scope", ev.Scope) {
		return false
	}
	for _, k := range fuzzyKeys {
		if !f.fuzzy(k, ev.Actor.ID) && !f.fuzzy(k, ev.Actor.Attributes["name"]) {
			return false
		}
	}
	return f.matchImage(ev) && f.matchLabels(ev.Actor.Attributes)
}

// exact: no value for key, or one equal to v.
func (f Filter) exact(key, v string) bool {
	vals := f[key]
	if len(vals) == 0 {
		return true
	}
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

// fuzzy: no value for key, or one equal to v or a prefix of it.
func (f Filter) fuzzy(key, v string) bool {
	vals := f[key]
	if len(vals) == 0 {
		return true
	}
	for _, x := range vals {
		if strings.HasPrefix(v, x) {
			return true
		}
	}
	return false
}

// matchAction matches event filters; dockerd matches them as prefixes as
// soon as one of them names an action that carries a detail.
func (f Filter) matchAction(action string) bool {
	for _, v := range f["event"] {
		if v == "health_status" || v == "exec_create" || v == "exec_start" {
			return f.fuzzy("event", action)
		}
	}
	return f.exact("event", action)
}

func (f Filter) matchImage(ev Event) bool {
	if len(f["image"]) == 0 {
		return true
	}
	attr := "image"
	if ev.Type == TypeImage {
		attr = "name"
	}
	name := ev.Actor.Attributes[attr]
	return f.exact("image", ev.Actor.ID) || f.exact("image", name) ||
		f.exact("image", stripTag(ev.Actor.ID)) || f.exact("image", stripTag(name))
}

// stripTag is a reference's repository in its familiar form.
func stripTag(s string) string {
	r, err := reference.Parse(s)
	if err != nil {
		return s
	}
	return reference.FamiliarName(r.Context())
}

func (f Filter) matchLabels(attrs map[string]string) bool {
	vals := f["label"]
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}
