package wharf

import "time"

// ClusterNode is a node of the cluster as GET /cluster/nodes lists it.
type ClusterNode struct {
	ID            string            `json:"ID"`
	Name          string            `json:"Name"`
	Addr          string            `json:"Addr"`
	Status        string            `json:"Status"`       // READY or DOWN
	Availability  string            `json:"Availability"` // ACTIVE or DRAINING
	Manager       bool              `json:"Manager"`
	Leader        bool              `json:"Leader"`
	CPU           int               `json:"CPU"`       // CPU units, 1024 per core
	MemoryMiB     int               `json:"MemoryMiB"` // MiB
	Attributes    map[string]string `json:"Attributes,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	LastHeartbeat time.Time         `json:"LastHeartbeat"`
	Self          bool              `json:"Self,omitempty"`
}

// ClusterNodeUpdate is POST /cluster/nodes/{ref}/update.
type ClusterNodeUpdate struct {
	Availability string            `json:"Availability,omitempty"`
	LabelAdd     map[string]string `json:"LabelAdd,omitempty"`
	LabelRm      []string          `json:"LabelRm,omitempty"`
}

// ClusterTokens are a manager's join tokens (GET /cluster/tokens).
type ClusterTokens struct {
	Worker  string `json:"Worker"`
	Manager string `json:"Manager"`
}
