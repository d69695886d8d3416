package wharf

import "time"

// BatchJob is a Batch job as GET /batch/jobs lists it (plain jobs and
// array parents, newest first).
type BatchJob struct {
	ID           string    `json:"ID"`
	Name         string    `json:"Name"`
	Queue        string    `json:"Queue"`
	Definition   string    `json:"Definition"`
	Status       string    `json:"Status"`
	StatusReason string    `json:"StatusReason,omitempty"`
	Created      time.Time `json:"Created"`
	Attempts     int       `json:"Attempts"`
	// ArraySize and Summary (children by status) are an array's.
	ArraySize int            `json:"ArraySize,omitempty"`
	Summary   map[string]int `json:"Summary,omitempty"`
}

// BatchQueue is one job queue of GET /batch/queues: its compute
// environments in order, and its scheduling policy ("": first in, first
// out).
type BatchQueue struct {
	Name         string    `json:"Name"`
	Priority     int       `json:"Priority"`
	State        string    `json:"State"`
	Status       string    `json:"Status"`
	StatusReason string    `json:"StatusReason,omitempty"`
	Envs         []string  `json:"Envs"`
	Policy       string    `json:"Policy,omitempty"`
	Created      time.Time `json:"Created"`
}

// BatchLogLine is one line of GET /batch/jobs/{id}/logs (JSON lines):
// the attempt's log stream, its time and message.
type BatchLogLine struct {
	Stream  string    `json:"Stream"`
	Time    time.Time `json:"Time"`
	Message string    `json:"Message"`
}
