package functions

import "errors"

// Error sentinels specific to functions. They are wrapped together with an
// errdefs class, so generic code sees the class and the Lambda API can pick
// Lambda's exact exception name.
var (
	// ErrThrottled: the function is at its concurrency (TooManyRequestsException, 429).
	ErrThrottled = errors.New("rate exceeded")
	// ErrTooLarge: the payload exceeds Lambda's limit (RequestEntityTooLargeException, 413).
	ErrTooLarge = errors.New("request entity too large")
	// ErrNotReady: the function is Pending or Failed (ResourceNotReadyException / ResourceConflictException).
	ErrNotReady = errors.New("function not ready")
)
