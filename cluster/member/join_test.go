package member

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/cluster/pki"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/errdefs"
)

func joinServer(t *testing.T, managers int) (*JoinServer, *Membership) {
	t.Helper()
	root := t.TempDir()
	ca, err := pki.NewCA("c")
	if err != nil {
		t.Fatal(err)
	}
	self := Peer{ID: "m1", JoinAddr: "10.0.0.1:4248", ClientAddr: "10.0.0.1:4249", RouteAddr: "10.0.0.1:4250"}
	m := &Membership{ClusterID: "c", NodeID: "m1", Manager: true, Managers: managers, Self: self, Peers: []Peer{self},
		WorkerSecret: pki.NewSecret(), ManagerSecret: pki.NewSecret()}
	if err := m.Save(root); err != nil {
		t.Fatal(err)
	}
	return &JoinServer{Root: root, CA: ca, Log: slog.New(slog.DiscardHandler), Mu: &sync.Mutex{}}, m
}

func csr(t *testing.T) []byte {
	t.Helper()
	_, _, der, err := pki.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// The secret decides the role; a manager join is refused by a
// one-manager cluster and beyond the manager count; a bad secret is
// unauthorized.
func TestJoinDecisions(t *testing.T) {
	s, m := joinServer(t, 1)
	if _, err := s.join(JoinRequest{Secret: pki.NewSecret(), CSR: csr(t), Addr: "10.0.0.2"}); !errdefs.IsUnauthorized(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	r, err := s.join(JoinRequest{Secret: m.WorkerSecret, CSR: csr(t), Addr: "10.0.0.2"})
	if err != nil || r.Manager || r.CAKey != nil || r.ManagerSecret != "" {
		t.Fatalf("worker join: %+v %v", r, err)
	}
	self := &Peer{JoinAddr: "10.0.0.3:4248", ClientAddr: "10.0.0.3:4249", RouteAddr: "10.0.0.3:4250"}
	if _, err := s.join(JoinRequest{Secret: m.ManagerSecret, CSR: csr(t), Addr: "10.0.0.3", Self: self}); !errdefs.IsConflict(err) {
		t.Fatalf("manager join of a one-manager cluster: %v", err)
	}
	if _, err := s.join(JoinRequest{Secret: m.WorkerSecret, CSR: csr(t), Addr: "not-an-ip"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad address: %v", err)
	}

	s, m = joinServer(t, 3)
	for i, ip := range []string{"10.0.0.3", "10.0.0.4"} {
		p := &Peer{JoinAddr: net.JoinHostPort(ip, "4248"), ClientAddr: net.JoinHostPort(ip, "4249"), RouteAddr: net.JoinHostPort(ip, "4250")}
		r, err := s.join(JoinRequest{Secret: m.ManagerSecret, CSR: csr(t), Addr: ip, Self: p})
		if err != nil || !r.Manager || r.CAKey == nil || r.ManagerSecret != m.ManagerSecret || len(r.Peers) != i+2 {
			t.Fatalf("manager join %d: %+v %v", i, r, err)
		}
	}
	p := &Peer{JoinAddr: "10.0.0.5:4248", ClientAddr: "10.0.0.5:4249", RouteAddr: "10.0.0.5:4250"}
	if _, err := s.join(JoinRequest{Secret: m.ManagerSecret, CSR: csr(t), Addr: "10.0.0.5", Self: p}); !errdefs.IsConflict(err) {
		t.Fatalf("a fourth manager: %v", err)
	}
}

// UpdatePeers adds the managers listed and keeps those known.
func TestUpdatePeers(t *testing.T) {
	s, _ := joinServer(t, 3)
	err := UpdatePeers(s.Root, []Peer{{ID: "m2", ClientAddr: "10.0.0.2:4249", RouteAddr: "10.0.0.2:4250"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(s.Root)
	if err != nil || len(m.Peers) != 2 || m.Peers[0].ID != "m1" || m.Peers[1].ID != "m2" {
		t.Fatalf("%+v %v", m, err)
	}
}

// Every joiner, worker or manager, gets the cluster's secrets key; a
// cluster without one admits nodes without one.
func TestJoinHandsTheSecretsKey(t *testing.T) {
	s, m := joinServer(t, 3)
	r, err := s.join(JoinRequest{Secret: m.WorkerSecret, CSR: csr(t), Addr: "10.0.0.2"})
	if err != nil || r.SecretsKey != nil {
		t.Fatalf("join without a key: %+v %v", r, err)
	}
	raw, _ := secrets.NewRawKey()
	if err := secrets.SaveKey(Dir(s.Root), raw); err != nil {
		t.Fatal(err)
	}
	r, err = s.join(JoinRequest{Secret: m.WorkerSecret, CSR: csr(t), Addr: "10.0.0.2"})
	if err != nil || !bytes.Equal(r.SecretsKey, raw) {
		t.Fatalf("worker join: %v", err)
	}
	p := &Peer{JoinAddr: "10.0.0.3:4248", ClientAddr: "10.0.0.3:4249", RouteAddr: "10.0.0.3:4250"}
	r, err = s.join(JoinRequest{Secret: m.ManagerSecret, CSR: csr(t), Addr: "10.0.0.3", Self: p})
	if err != nil || !bytes.Equal(r.SecretsKey, raw) {
		t.Fatalf("manager join: %v", err)
	}
	if _, err := s.join(JoinRequest{Secret: pki.NewSecret(), CSR: csr(t), Addr: "10.0.0.4"}); !errdefs.IsUnauthorized(err) {
		t.Fatalf("a wrong token: %v", err)
	}
}
