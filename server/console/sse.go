package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sse writes server-sent events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// sseKeepAlive is how often an idle stream sends a comment, so that
// proxies and browsers keep it open and a gone client is noticed.
const sseKeepAlive = 25 * time.Second

// startSSE answers r with an event stream.
func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	// No write deadline: the stream lasts as long as the page.
	_ = s.rc.SetWriteDeadline(time.Time{})
	_ = s.rc.Flush()
	return s
}

// send writes one event of type name whose data is v as JSON.
func (s *sse) send(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.sendRaw(name, data)
}

// sendRaw writes one event whose data is one line of JSON.
func (s *sse) sendRaw(name string, data []byte) error {
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// ping writes a comment.
func (s *sse) ping() error {
	if _, err := s.w.Write([]byte(": ping\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}
