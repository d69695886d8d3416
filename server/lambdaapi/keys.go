package lambdaapi

import (
	"encoding/json"
	"github.com/wharf-dev/wharf/server/httperr"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/auth"
)

// AccessKey is an access key as the native API answers it: with its
// secret once, when created; without it when listed.
type AccessKey struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey,omitempty"`
	Created         time.Time `json:"Created,omitzero"`
}

// KeysHandler serves the access key endpoints of the native API, for
// `wharf keys` (mount it on the daemon's unix socket, which only root
// reaches; the Lambda API's own port never serves these):
//
//	POST   /wharf/v1/keys       create a key → 201 {AccessKeyId, SecretAccessKey, Created}
//	GET    /wharf/v1/keys       list keys    → 200 [{AccessKeyId, Created}]
//	DELETE /wharf/v1/keys/{id}  revoke a key → 204
//
// Errors are the native API's {"message": ...} with its status codes.
func KeysHandler(keys *auth.Keys) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wharf/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		k, err := keys.Create()
		if err != nil {
			nativeError(w, err)
			return
		}
		_ = writeJSON(w, http.StatusCreated, AccessKey{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Created: k.Created})
	})
	mux.HandleFunc("GET /wharf/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		list := keys.List()
		out := make([]AccessKey, 0, len(list))
		for _, k := range list {
			out = append(out, AccessKey{AccessKeyID: k.AccessKeyID, Created: k.Created})
		}
		_ = writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE /wharf/v1/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := keys.Remove(r.PathValue("id")); err != nil {
			nativeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// nativeError answers in the native API's error shape.
func nativeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errdefs.IsNotFound(err) {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": httperr.Message(err)})
}
