package lambdaapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// invokeInput decodes an invocation: the qualified name, the invocation
// and log types from X-Amz-Invocation-Type and X-Amz-Log-Type, and the
// payload, which must be JSON when there is one (InvalidRequestContent
// otherwise, as Lambda answers).
func invokeInput(r *http.Request) (functions.InvokeInput, error) {
	name, qualifier, err := functionName(r)
	if err != nil {
		return functions.InvokeInput{}, err
	}
	in := functions.InvokeInput{FunctionName: name, Qualifier: qualifier, Type: functions.InvocationSync}
	if t := r.Header.Get("X-Amz-Invocation-Type"); t != "" {
		switch t {
		case functions.InvocationSync, functions.InvocationEvent, functions.InvocationDryRun:
			in.Type = t
		default:
			return in, invalidParam("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", t)
		}
	}
	switch lt := r.Header.Get("X-Amz-Log-Type"); lt {
	case "", "None":
	case "Tail":
		in.LogTail = in.Type == functions.InvocationSync
	default:
		return in, invalidParam("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", lt)
	}
	// The verifier has read the body already; take its bytes rather than
	// copy them again.
	if b, ok := r.Body.(*identity.Body); ok {
		in.Payload = b.Bytes()
	} else if in.Payload, err = io.ReadAll(r.Body); err != nil {
		return in, err
	}
	if len(in.Payload) > 0 && !json.Valid(in.Payload) {
		return in, badRequest("InvalidRequestContentException", "Could not parse request body into json: the payload is not valid JSON")
	}
	return in, nil
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) error {
	in, err := invokeInput(r)
	if err != nil {
		return err
	}
	out, err := s.svc.Invoke(r.Context(), in)
	if err != nil {
		return s.throttleReason(r, in.FunctionName, err)
	}
	h := w.Header()
	if out.RequestID != "" {
		h.Set("X-Amzn-RequestId", out.RequestID)
	}
	if out.ExecutedVersion != "" {
		h.Set("X-Amz-Executed-Version", out.ExecutedVersion)
	}
	if out.FunctionError != "" {
		h.Set("X-Amz-Function-Error", out.FunctionError)
	}
	if out.LogResult != "" {
		h.Set("X-Amz-Log-Result", out.LogResult)
	}
	status := out.StatusCode
	if status == 0 {
		status = map[string]int{functions.InvocationEvent: http.StatusAccepted, functions.InvocationDryRun: http.StatusNoContent}[in.Type]
		if status == 0 {
			status = http.StatusOK
		}
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		return nil
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(out.Payload)
	return err
}

// invokeAsync is the 2014 InvokeAsync operation: an Event invocation
// answered with {"Status":202}.
func (s *Server) invokeAsync(w http.ResponseWriter, r *http.Request) error {
	in, err := invokeInput(r)
	if err != nil {
		return err
	}
	in.Type, in.LogTail = functions.InvocationEvent, false
	out, err := s.svc.Invoke(r.Context(), in)
	if err != nil {
		return s.throttleReason(r, in.FunctionName, err)
	}
	if out.RequestID != "" {
		w.Header().Set("X-Amzn-RequestId", out.RequestID)
	}
	return writeJSON(w, http.StatusAccepted, map[string]int{"Status": http.StatusAccepted})
}

// throttleReason tells which limit a throttle hit, as Lambda's Reason
// does: the function's reserved concurrency, or the daemon's limit when
// the function reserves none.
func (s *Server) throttleReason(r *http.Request, name string, err error) error {
	if !errors.Is(err, functions.ErrThrottled) {
		return err
	}
	e := classify(err)
	if c, gerr := s.svc.Get(r.Context(), name, ""); gerr == nil && c.ReservedConcurrency == nil {
		e.reason = "ConcurrentInvocationLimitExceeded"
	}
	return e
}
