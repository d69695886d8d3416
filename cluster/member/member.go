// Package member is a node's membership in a cluster: creating the
// cluster (--cluster-init), joining it with a token (--join), the join
// endpoint managers serve, and the NATS a node uses for the cluster's
// state: a manager's own embedded server (clustered with the other
// managers), a worker's TLS client connection to the managers.
//
// Addresses. A manager's --cluster-listen host:P serves three things:
//
//	P      the join endpoint (HTTPS; the manager's node certificate, sent
//	       with the CA so that the joiner can pin it to its token)
//	P+1    NATS clients: the agents of worker nodes (mutual TLS)
//	P+2    NATS routes between managers (mutual TLS)
//
// Join protocol: POST https://<manager>:P/join with JoinRequest; the
// manager checks the token's secret, signs the node's certificate
// request, and answers JoinResponse (a manager joiner also gets the CA's
// key and the join secrets, which managers share as swarm's do).
//
// On disk, under <root>/cluster (0700; files 0600, written atomically):
//
//	cluster.json   this node's membership (Membership)
//	ca.pem, ca-key.pem, node.pem, node-key.pem   (package pki)
//	secrets.key    the secrets' data key (package secrets): created at
//	               --cluster-init, handed to every joiner in JoinResponse
//	nats/          a manager's JetStream store
package member

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Peer is a manager's addresses.
type Peer struct {
	ID         string `json:"id"`
	JoinAddr   string `json:"joinAddr"`
	ClientAddr string `json:"clientAddr"`
	RouteAddr  string `json:"routeAddr"`
}

// Membership is what a node keeps of its cluster.
type Membership struct {
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	Manager   bool   `json:"manager"`
	// Managers is the cluster's manager count, 1 or 3 (natsbox.Cluster
	// says why it is fixed when the cluster is created).
	Managers int `json:"managers"`
	// Self is this node's addresses (a worker's JoinAddr is its node
	// address alone).
	Self Peer `json:"self"`
	// Peers are the managers known, this one included.
	Peers []Peer `json:"peers"`
	// TaskCIDR and TaskSubnetBits are the cluster's task network as
	// --cluster-init set it (the first manager only): that manager
	// records it in the cluster's state (state.InitTaskNet).
	TaskCIDR       string `json:"taskCidr,omitempty"`
	TaskSubnetBits int    `json:"taskSubnetBits,omitempty"`
	// WorkerSecret and ManagerSecret are the join secrets (managers only).
	WorkerSecret  string `json:"workerSecret,omitempty"`
	ManagerSecret string `json:"managerSecret,omitempty"`
}

// Dir is the cluster directory under a daemon's root.
func Dir(root string) string { return filepath.Join(root, "cluster") }

func membershipPath(root string) string { return filepath.Join(Dir(root), "cluster.json") }

// Load reads a node's membership; ErrNotFound when it is in no cluster.
func Load(root string) (*Membership, error) {
	data, err := os.ReadFile(membershipPath(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("not in a cluster: %w", errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var m Membership
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", membershipPath(root), err)
	}
	return &m, nil
}

// Save writes a node's membership.
func (m *Membership) Save(root string) error {
	if err := os.MkdirAll(Dir(root), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(membershipPath(root), data, 0o600)
}

// Ports derives a manager's three addresses from its --cluster-listen.
func Ports(listen string) (join, client, route string, err error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", "", "", fmt.Errorf("cluster address %q: %v: %w", listen, err, errdefs.ErrInvalidArgument)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65533 {
		return "", "", "", fmt.Errorf("cluster address %q: want a port below 65534: %w", listen, errdefs.ErrInvalidArgument)
	}
	return net.JoinHostPort(h, strconv.Itoa(n)), net.JoinHostPort(h, strconv.Itoa(n+1)), net.JoinHostPort(h, strconv.Itoa(n+2)), nil
}

// AddPeer records a manager (replacing one with its id).
func (m *Membership) AddPeer(p Peer) {
	for i, q := range m.Peers {
		if q.ID == p.ID {
			m.Peers[i] = p
			return
		}
	}
	m.Peers = append(m.Peers, p)
}

// UpdatePeers records the managers the cluster's state lists, keeping
// those known before (a manager that is down is still one to dial), and
// rewrites the membership only when something changed.
func UpdatePeers(root string, peers []Peer) error {
	m, err := Load(root)
	if err != nil {
		return err
	}
	before, _ := json.Marshal(m.Peers)
	for _, p := range peers {
		m.AddPeer(p)
	}
	after, _ := json.Marshal(m.Peers)
	if string(before) == string(after) {
		return nil
	}
	return m.Save(root)
}
