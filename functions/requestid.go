package functions

import "context"

// requestIDKey is the context key of the API request an operation serves.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the ID of the API request it serves,
// so that what the engine logs about the request (a failed pull) can be
// found from the ID the client was given.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the ID WithRequestID put in ctx ("" when none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
