package lambdaapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// invokeInput decodes an invocation: the qualified name, the invocation
// and log types from X-Amz-Invocation-Type and X-Amz-Log-Type, the client
// context from X-Amz-Client-Context, and the payload, which must be JSON
// when there is one (InvalidRequestContent otherwise, as Lambda answers).
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
	if in.ClientContext, err = clientContext(r.Header.Get("X-Amz-Client-Context")); err != nil {
		return in, err
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

// maxClientContext is the longest X-Amz-Client-Context Lambda takes: up
// to 3,583 bytes of base64.
const maxClientContext = 3583

// clientContext decodes X-Amz-Client-Context: base64 (padded or not, as
// Java's decoder on Lambda's side takes it) of a JSON object, which the
// runtime receives, compacted onto one line, as the
// Lambda-Runtime-Client-Context header. Anything else is refused as
// Lambda refuses it, with InvalidRequestContentException.
func clientContext(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	if len(h) > maxClientContext {
		return "", badRequest("InvalidRequestContentException", "Client context must be at most %d bytes of base64-encoded data, not %d", maxClientContext, len(h))
	}
	bad := badRequest("InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object.")
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(h); err != nil {
			return "", bad
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return "", bad
	}
	// DEL may stand unescaped in a JSON string but not in a header value,
	// where an HTTP client would refuse the whole response: escape it.
	// Outside strings, valid JSON has no DEL, so this keeps the meaning.
	return strings.ReplaceAll(buf.String(), "\x7f", `\u007f`), nil
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
