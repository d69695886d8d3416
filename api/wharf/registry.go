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

// The registry's content on the native API, for `wharf registry repos`,
// `images`, `rm` and `policy` (a repository name goes in the query, as
// it holds slashes):
//
//	GET    /registry/repositories                          → 200 []RegistryRepository
//	DELETE /registry/repositories?repository=R&force=1     → 200 RegistryRepository
//	GET    /registry/images?repository=R                   → 200 []RegistryImage
//	DELETE /registry/images?repository=R&tag=T|digest=D    → 200 RegistryDeleted
//	GET    /registry/policy?repository=R                   → 200 RegistryPolicy
//	PUT    /registry/policy?repository=R  (the policy's text) → 200 RegistryPolicy
//	DELETE /registry/policy?repository=R                   → 200 RegistryPolicy
//	POST   /registry/policy/preview?repository=R  (a text, or none: the stored one) → 200 []RegistryExpiry
//	POST   /registry/lifecycle  apply every policy now     → 200 map[repository][]RegistryExpiry
//
// A missing repository, image or policy is 404.

// RegistryRepository is one repository of the registry.
type RegistryRepository struct {
	Name          string    `json:"Name"`
	Created       time.Time `json:"Created"`
	TagMutability string    `json:"TagMutability"`
	Public        bool      `json:"Public"`
	Images        int       `json:"Images"`
	Size          int64     `json:"Size"`
	HasPolicy     bool      `json:"HasPolicy"`
}

// RegistryImage is one image (manifest) of a repository.
type RegistryImage struct {
	Digest    string    `json:"Digest"`
	Tags      []string  `json:"Tags"`
	Size      int64     `json:"Size"`
	MediaType string    `json:"MediaType"`
	Pushed    time.Time `json:"Pushed"`
	// LastPull is zero when the image was never pulled.
	LastPull time.Time `json:"LastPull"`
}

// RegistryDeleted is what an image deletion removed.
type RegistryDeleted struct {
	Digest string   `json:"Digest"`
	Tags   []string `json:"Tags"`
	// Image is whether the image itself went (not only a tag).
	Image bool `json:"Image"`
}

// RegistryPolicy is a repository's lifecycle policy (ECR's language).
type RegistryPolicy struct {
	Repository string    `json:"Repository"`
	Text       string    `json:"Text"`
	Updated    time.Time `json:"Updated"`
}

// RegistryExpiry is an image a lifecycle policy expires (or would).
type RegistryExpiry struct {
	Image        RegistryImage `json:"Image"`
	RulePriority int           `json:"RulePriority"`
}
