// Package events is the engine's event bus: the one place where what
// happens to containers, images, networks and volumes is told, as it
// happens, to whoever listens. The container engine, the image store, the
// network manager and the volume store publish to it (the last three
// through the wrappers of publish.go); the Docker API's /events, the native
// API's and `wharf events` stream from it; controllers subscribe through
// the same Go interface.
//
// Events have Docker's shape (Type, Action, Actor{ID, Attributes}, scope,
// time), and the engine publishes the actions and attributes dockerd does,
// in dockerd's order, so that the API servers only change the encoding.
//
// A Subscription has a bounded buffer of its own: a subscriber that does
// not keep up loses events, and learns how many from a LostError where
// they would have been; it never slows the publisher, which is the
// engine's lifecycle path.
//
// On-disk log (the bus's directory, <root>/events/, mode 0700):
//
//	events.log    the current segment, appended to: one event per line,
//	              "<crc32c of the JSON, 8 hex digits> <JSON record>\n"
//	events.log.1  the previous segment
//
// When appending to the current segment would take it past half of the
// log's bound, it is renamed over the previous one and a new segment
// starts, so the log never holds much more than its bound and always the
// latest events. Lines are written with one write(2) each, not synced: a
// daemon crash loses nothing (the page cache has the line), a host crash
// may tear the last line, and a line whose checksum fails ends its segment
// (at open, the current segment is truncated there). Subscriptions with a
// since or until time replay the log before the live events; a bus
// without a directory keeps the last 256 events in memory instead, as
// dockerd does.
package events

import (
	"time"
)

// Event types, as Docker names them.
const (
	TypeContainer = "container"
	TypeImage     = "image"
	TypeNetwork   = "network"
	TypeVolume    = "volume"
	TypeDaemon    = "daemon"
)

// ScopeLocal is the scope of every event of a single daemon.
const ScopeLocal = "local"

// Actor is what an event is about: a container ID, an image ID or
// reference, a network ID, a volume name; and attributes such as the
// container's name, image and labels.
type Actor struct {
	ID string
	// Attributes are shared by every subscriber: read them, never
	// change them.
	Attributes map[string]string
}

// Event is one thing that happened.
type Event struct {
	Type   string
	Action string
	Actor  Actor
	// Scope is "local" unless set.
	Scope string
	// Time is when it happened; Publish sets it when zero.
	Time time.Time
}

// Publisher is what publishers need of the bus.
type Publisher interface {
	// Publish tells the event to every subscriber. It never blocks on a
	// subscriber.
	Publish(ev Event)
}

// Discard is a Publisher that drops every event, for engines without a
// bus.
var Discard Publisher = discard{}

type discard struct{}

func (discard) Publish(Event) {}
