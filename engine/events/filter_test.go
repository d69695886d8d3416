package events

import "testing"

// The filters match as dockerd's daemon/events/filter.go does.
func TestFilter(t *testing.T) {
	ctr := Event{Type: TypeContainer, Action: "start", Scope: ScopeLocal, Actor: Actor{ID: "abcdef0123", Attributes: map[string]string{
		"name": "web", "image": "local/busybox:1", "com.example.tier": "front", "other": "x",
	}}}
	exec := ctr
	exec.Action = "exec_start: sh -c true"
	health := ctr
	health.Action = "health_status: healthy"
	img := Event{Type: TypeImage, Action: "tag", Scope: ScopeLocal, Actor: Actor{ID: "sha256:9999", Attributes: map[string]string{"name": "docker.io/library/alpine:3"}}}
	net := Event{Type: TypeNetwork, Action: "connect", Scope: ScopeLocal, Actor: Actor{ID: "n0123", Attributes: map[string]string{"name": "front", "type": "bridge", "container": "abcdef0123"}}}
	vol := Event{Type: TypeVolume, Action: "mount", Scope: ScopeLocal, Actor: Actor{ID: "data", Attributes: map[string]string{"driver": "local", "container": "abcdef0123"}}}

	for _, c := range []struct {
		name string
		f    Filter
		ev   Event
		want bool
	}{
		{"empty", Filter{}, ctr, true},
		{"type", Filter{"type": {"container"}}, ctr, true},
		{"type other", Filter{"type": {"image"}}, ctr, false},
		{"types ORed", Filter{"type": {"image", "container"}}, ctr, true},
		{"event", Filter{"event": {"start"}}, ctr, true},
		{"event other", Filter{"event": {"stop"}}, ctr, false},
		{"event is exact", Filter{"event": {"sta"}}, ctr, false},
		{"exec_start prefix", Filter{"event": {"exec_start"}}, exec, true},
		{"health_status prefix", Filter{"event": {"health_status"}}, health, true},
		{"health_status exact form", Filter{"event": {"health_status: healthy"}}, health, true},
		{"health_status other status", Filter{"event": {"health_status: unhealthy"}}, health, false},
		{"plain action without detail", Filter{"event": {"exec_start"}}, ctr, false},
		{"container by name", Filter{"container": {"web"}}, ctr, true},
		{"container by ID prefix", Filter{"container": {"abc"}}, ctr, true},
		{"container other", Filter{"container": {"db"}}, ctr, false},
		// Keys are ANDed: a container filter also applies to image events,
		// which dockerd then drops unless the ID or name matches.
		{"container filter on image event", Filter{"container": {"web"}}, img, false},
		{"image of a container", Filter{"image": {"local/busybox:1"}}, ctr, true},
		{"image of a container, untagged", Filter{"image": {"local/busybox"}}, ctr, true},
		{"image event by ID", Filter{"image": {"sha256:9999"}}, img, true},
		{"image event by familiar name", Filter{"image": {"alpine"}}, img, true},
		{"image event by name", Filter{"image": {"docker.io/library/alpine:3"}}, img, true},
		{"image other", Filter{"image": {"busybox"}}, img, false},
		{"label key", Filter{"label": {"com.example.tier"}}, ctr, true},
		{"label key=value", Filter{"label": {"com.example.tier=front"}}, ctr, true},
		{"label wrong value", Filter{"label": {"com.example.tier=back"}}, ctr, false},
		{"labels ANDed", Filter{"label": {"com.example.tier=front", "other=x"}}, ctr, true},
		{"labels ANDed, one missing", Filter{"label": {"com.example.tier=front", "missing"}}, ctr, false},
		{"network by name", Filter{"network": {"front"}}, net, true},
		{"network by ID prefix", Filter{"network": {"n01"}}, net, true},
		{"network other", Filter{"network": {"back"}}, net, false},
		{"volume by name", Filter{"volume": {"data"}}, vol, true},
		{"volume other", Filter{"volume": {"logs"}}, vol, false},
		{"scope", Filter{"scope": {"local"}}, ctr, true},
		{"scope swarm", Filter{"scope": {"swarm"}}, ctr, false},
		{"type and event", Filter{"type": {"container"}, "event": {"start", "die"}}, ctr, true},
		{"unknown key ignored", Filter{"bogus": {"x"}}, ctr, true},
	} {
		if got := c.f.Match(c.ev); got != c.want {
			t.Errorf("%s: %v matches %s %s: %v, want %v", c.name, c.f, c.ev.Type, c.ev.Action, got, c.want)
		}
	}
}
