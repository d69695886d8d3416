package lambdaapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/httperr"
)

// maxKeyRequest bounds the body of a key creation.
const maxKeyRequest = 64 << 10

// KeysHandler serves the access key endpoints of the native API, for
// `wharf keys` (mount it on the daemon's unix socket, which only root
// reaches; the Lambda API's own port never serves these):
//
//	POST   /wharf/v1/keys       create a key ({Admin, Policies}) → 201 {AccessKeyId, SecretAccessKey, Created, Policies}
//	GET    /wharf/v1/keys       list keys    → 200 [{AccessKeyId, Created, Policies}]
//	DELETE /wharf/v1/keys/{id}  revoke a key → 204
//
// Errors are the native API's {"message": ...} with its status codes.
func KeysHandler(keys *identity.Keys) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wharf/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		var req wharf.CreateKeyRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxKeyRequest))
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			nativeError(w, fmt.Errorf("decoding the key request: %v: %w", err, errdefs.ErrInvalidArgument))
			return
		}
		var stmts []identity.Statement
		if req.Admin {
			stmts = append(stmts, identity.AdminStatement)
		}
		for _, p := range req.Policies {
			st, err := identity.ParseStatement(p)
			if err != nil {
				nativeError(w, err)
				return
			}
			stmts = append(stmts, st)
		}
		k, err := keys.Create(stmts...)
		if err != nil {
			nativeError(w, err)
			return
		}
		_ = writeJSON(w, http.StatusCreated, wharf.AccessKey{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Created: k.Created, Policies: policyStrings(k.Statements)})
	})
	mux.HandleFunc("GET /wharf/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		list := keys.List()
		out := make([]wharf.AccessKey, 0, len(list))
		for _, k := range list {
			out = append(out, wharf.AccessKey{AccessKeyID: k.AccessKeyID, Created: k.Created, Policies: policyStrings(k.Statements)})
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

func policyStrings(stmts []identity.Statement) []string {
	var out []string
	for _, st := range stmts {
		out = append(out, st.String())
	}
	return out
}

// nativeError answers in the native API's error shape.
func nativeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errdefs.IsNotFound(err):
		status = http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": httperr.Message(err)})
}
