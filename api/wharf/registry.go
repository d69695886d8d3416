package wharf

import "time"

// The registry's administration on the native API (the daemon's socket,
// root only), for `wharf registry`:
//
//	POST /registry/login-password  LoginPasswordRequest → 200 LoginPassword
//	     a login token of a key: the password of `docker login -u AWS`
//	POST /registry/gc?dry-run=1&grace=1h  collect unreferenced blobs → 200 RegistryGCReport
//	     (grace: keep blobs written or used more recently; default 1h)
//
// Both answer 404 when the daemon runs no registry (--registry).

// LoginPasswordRequest names the key a login password is for.
type LoginPasswordRequest struct {
	AccessKeyID string `json:"AccessKeyId"`
}

// LoginPassword is a login token, as ECR's GetAuthorizationToken gives
// one: the user is "AWS", the password the token.
type LoginPassword struct {
	User      string    `json:"User"`
	Password  string    `json:"Password"`
	ExpiresAt time.Time `json:"ExpiresAt"`
	// Registry is the daemon's registry address (host:port).
	Registry string `json:"Registry"`
}

// RegistryGCReport is what a garbage collection of the registry did.
type RegistryGCReport struct {
	DryRun     bool     `json:"DryRun"`
	Manifests  int      `json:"Manifests"`
	Blobs      int      `json:"Blobs"`
	Deleted    []string `json:"Deleted"`
	FreedBytes int64    `json:"FreedBytes"`
	Kept       int      `json:"Kept"`
	// PausedSeconds is how long requests on the blobs being deleted (and
	// only those) could wait.
	PausedSeconds float64 `json:"PausedSeconds"`
	Seconds       float64 `json:"Seconds"`
}
