package wharf

// Event is one thing that happened in the engine, in Docker's shape
// (GET /events).
type Event struct {
	Type     string
	Action   string
	Actor    EventActor
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// EventActor is what an event is about: a container ID, an image, a
// network ID, a volume name, with attributes (name, image, labels...).
type EventActor struct {
	ID         string
	Attributes map[string]string
}
