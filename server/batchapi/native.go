package batchapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Native serves `wharf batch` on the daemon's socket:
//
//	GET /wharf/v1/batch/queues             the job queues, by name
//	GET /wharf/v1/batch/jobs?limit=N       plain jobs and arrays, newest first
//	GET /wharf/v1/batch/jobs/{id}/logs     the logs of the job's attempts
//	                                       (every started child's for an array),
//	                                       JSON lines, also after the job ended
func Native(m *batch.Manager, logs batch.LogReader) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wharf.Prefix+"/batch/jobs", func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				writeNativeError(w, http.StatusBadRequest, "limit must be 1 to 10000")
				return
			}
			limit = n
		}
		out := []wharf.BatchJob{}
		for _, v := range m.AllJobs(limit) {
			n := len(v.Attempts)
			if v.Running != nil {
				n++
			}
			out = append(out, wharf.BatchJob{ID: v.ID, Name: v.Name, Queue: v.Queue, Definition: v.Definition, Status: v.Status,
				StatusReason: v.StatusReason, Created: v.CreatedAt, Attempts: n, ArraySize: v.ArraySize, Summary: v.StatusSummary})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET "+wharf.Prefix+"/batch/queues", func(w http.ResponseWriter, r *http.Request) {
		out := []wharf.BatchQueue{}
		for _, q := range m.Queues(nil) {
			envs := make([]string, 0, len(q.Envs))
			for _, e := range q.Envs {
				envs = append(envs, e.Env)
			}
			out = append(out, wharf.BatchQueue{Name: q.Name, Priority: q.Priority, State: q.State, Status: q.Status,
				StatusReason: q.StatusReason, Envs: envs, Policy: q.Policy, Created: q.Created})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET "+wharf.Prefix+"/batch/jobs/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		streams, err := m.Streams(r.PathValue("id"))
		if err != nil {
			writeNativeError(w, httperr.Status(err), httperr.Message(err))
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, st := range streams {
			err := logs.Logs(r.Context(), st, func(e batch.LogEvent) error {
				return enc.Encode(wharf.BatchLogLine{Stream: st, Time: e.Time, Message: e.Message})
			})
			if err != nil && r.Context().Err() != nil {
				return
			}
		}
	})
	return mux
}

func writeNativeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wharf.ErrorResponse{Message: msg})
}
