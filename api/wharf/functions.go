package wharf

import (
	"encoding/json"
	"time"
)

// The function administration endpoints of the native API, for the
// operations the Lambda API has none of (`wharf fn logs|metrics|failures|
// route|schedule`; function CRUD and invocation go through the
// Lambda-shaped API):
//
//	GET    /functions/routes                     → 200 [FunctionRoute]
//	POST   /functions/routes      FunctionRoute  → 201 FunctionRoute
//	DELETE /functions/routes?method=M&path=P     → 204
//	GET    /functions/schedules                  → 200 [FunctionSchedule]
//	POST   /functions/schedules   FunctionSchedule → 201 FunctionSchedule
//	DELETE /functions/schedules/{name}           → 204
//	GET    /functions/{name}/logs[?follow=1]     → 200 text
//	GET    /functions/{name}/failures            → 200 [FunctionFailure]
//	GET    /functions/{name}/metrics             → 200 FunctionMetrics

// FunctionRoute maps an HTTP method and path pattern on the daemon's
// --http address to a function.
type FunctionRoute struct {
	Method   string // GET, POST, ... or ANY
	Path     string // "/users/{id}", "/files/{proxy+}"
	Function string
	// Qualifier is a version or alias ("" = $LATEST).
	Qualifier string
	Created   time.Time
}

// FunctionSchedule fires a function on a rate or cron expression.
type FunctionSchedule struct {
	Name       string
	Expression string
	Function   string
	Qualifier  string
	Created    time.Time
}

// FunctionFailure is one async event that failed every attempt.
type FunctionFailure struct {
	RequestID    string
	FunctionName string
	Qualifier    string
	Payload      json.RawMessage
	Error        string
	Attempts     int
	FailedAt     time.Time
}

// FunctionMetrics is a person-readable digest of a function's metrics
// since the daemon started.
type FunctionMetrics struct {
	Function       string
	Invocations    int64
	Errors         int64
	Throttles      int64
	ColdStarts     int64
	Concurrent     int64
	SandboxesWarm  int
	SandboxesTotal int
	P50Ms          float64
	P90Ms          float64
	P99Ms          float64
	MaxMs          float64
}
