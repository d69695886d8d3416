package wharf

import "time"

// BuildRequest is the first line of the body of POST /build: the build's
// options as JSON, followed by a newline and the context as an
// uncompressed tar (with .dockerignore applied by the client).
type BuildRequest struct {
	Tags []string `json:"tags,omitempty"`
	// Dockerfile is the Dockerfile's path in the context; DockerfileContent
	// carries a Dockerfile from elsewhere (stdin, outside the context).
	Dockerfile        string             `json:"dockerfile,omitempty"`
	DockerfileContent []byte             `json:"dockerfileContent,omitempty"`
	Target            string             `json:"target,omitempty"`
	BuildArgs         map[string]*string `json:"buildArgs,omitempty"`
	Labels            map[string]string  `json:"labels,omitempty"`
	NoCache           bool               `json:"noCache,omitempty"`
	Pull              bool               `json:"pull,omitempty"`
	CacheFrom         []string           `json:"cacheFrom,omitempty"`
	// Secrets are --secret values by id; they reach only the RUN steps
	// that mount them.
	Secrets map[string][]byte `json:"secrets,omitempty"`
	// Network is the network of RUN steps: "none" (default), "host",
	// "default".
	Network string `json:"network,omitempty"`
}

// MaxBuildRequest bounds the first line of a build request.
const MaxBuildRequest = 16 << 20

// BuildEvent is one line of the answer of POST /build: a step's progress,
// or, last, the result (ImageID) or the failure (Error with Step 0).
type BuildEvent struct {
	Step   int       `json:"step,omitempty"`
	Total  int       `json:"total,omitempty"`
	Name   string    `json:"name,omitempty"`
	Status string    `json:"status,omitempty"` // start, cached, log, done, error
	Log    []byte    `json:"log,omitempty"`
	Stream int       `json:"stream,omitempty"`
	Error  string    `json:"error,omitempty"`
	Time   time.Time `json:"time,omitempty"`
	// ImageID and Tags come with the last event of a successful build.
	ImageID string   `json:"imageID,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// BuildPruneResponse is the answer of POST /build/prune.
type BuildPruneResponse struct {
	Deleted        []string `json:"deleted"`
	SpaceReclaimed uint64   `json:"spaceReclaimed"`
}
