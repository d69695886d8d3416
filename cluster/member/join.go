package member

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/wharf-dev/wharf/cluster/pki"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/server/httperr"
)

// maxJoinBody bounds a join request or response: a CSR, certificates and
// a few addresses.
const maxJoinBody = 64 << 10

// maxJoinConns bounds the join endpoint's connections.
const maxJoinConns = 32

// JoinRequest is what a joiner sends.
type JoinRequest struct {
	Secret string `json:"secret"`
	// CSR is the node's certificate request, DER.
	CSR []byte `json:"csr"`
	// Addr is the node's address (its certificate's IP SAN); Self its
	// manager addresses when it joins as a manager.
	Addr string `json:"addr"`
	Self *Peer  `json:"self,omitempty"`
}

// JoinResponse is what the manager answers.
type JoinResponse struct {
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	Manager   bool   `json:"manager"`
	Managers  int    `json:"managers"`
	Cert      []byte `json:"cert"`
	CACert    []byte `json:"caCert"`
	// CAKey and the secrets go to managers only.
	CAKey         []byte `json:"caKey,omitempty"`
	WorkerSecret  string `json:"workerSecret,omitempty"`
	ManagerSecret string `json:"managerSecret,omitempty"`
	Peers         []Peer `json:"peers"`
	// SecretsKey is the cluster's secrets data key (package secrets),
	// for every node: a worker decrypts the secrets of its tasks.
	SecretsKey []byte `json:"secretsKey,omitempty"`
}

// NewNodeID returns a fresh node id (25 lowercase alphanumerics, as
// swarm's look).
func NewNodeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])[:25]
}

// JoinServer is a manager's join endpoint.
type JoinServer struct {
	Root string
	CA   *pki.CA
	Log  *slog.Logger
	// Mu serialises the writers of the membership file (joins, the
	// agent's UpdatePeers): each reads and rewrites it.
	Mu *sync.Mutex
}

// ServeHTTP handles POST /join.
func (s *JoinServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/join" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxJoinBody)).Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("join request: %v: %w", err, errdefs.ErrInvalidArgument))
		return
	}
	resp, err := s.join(req)
	if err != nil {
		s.Log.Warn("join refused", "remote", r.RemoteAddr, "err", err)
		writeErr(w, err)
		return
	}
	s.Log.Info("node joined", "node", resp.NodeID, "manager", resp.Manager, "addr", req.Addr)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func writeErr(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httperr.Status(err))
	_ = json.NewEncoder(w).Encode(map[string]string{"message": httperr.Message(err)})
}

func (s *JoinServer) join(req JoinRequest) (*JoinResponse, error) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	m, err := Load(s.Root)
	if err != nil {
		return nil, err
	}
	var manager bool
	switch {
	case pki.SecretEqual(req.Secret, m.ManagerSecret):
		manager = true
	case pki.SecretEqual(req.Secret, m.WorkerSecret):
	default:
		return nil, fmt.Errorf("the join token is not valid for this cluster: %w", errdefs.ErrUnauthorized)
	}
	ip := net.ParseIP(req.Addr)
	if ip == nil {
		return nil, fmt.Errorf("node address %q is not an IP address: %w", req.Addr, errdefs.ErrInvalidArgument)
	}
	if manager {
		if req.Self == nil {
			return nil, fmt.Errorf("a manager joins with its cluster addresses (--cluster-listen): %w", errdefs.ErrInvalidArgument)
		}
		if m.Managers == 1 {
			return nil, fmt.Errorf("this cluster was created for one manager (--cluster-managers 1); join as a worker: %w", errdefs.ErrConflict)
		}
		if len(m.Peers) >= m.Managers {
			return nil, fmt.Errorf("this cluster has its %d managers already: %w", m.Managers, errdefs.ErrConflict)
		}
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	id := NewNodeID()
	role := pki.RoleWorker
	if manager {
		role = pki.RoleManager
	}
	cert, err := s.CA.Sign(csr, id, role, []net.IP{ip})
	if err != nil {
		return nil, err
	}
	resp := &JoinResponse{ClusterID: m.ClusterID, NodeID: id, Manager: manager, Managers: m.Managers,
		Cert: cert.Raw, CACert: s.CA.Cert.Raw}
	if manager {
		p := *req.Self
		p.ID = id
		m.AddPeer(p)
		if err := m.Save(s.Root); err != nil {
			return nil, err
		}
		key, err := pki.EncodeKey(s.CA.Key)
		if err != nil {
			return nil, err
		}
		resp.CAKey = key
		resp.WorkerSecret, resp.ManagerSecret = m.WorkerSecret, m.ManagerSecret
	}
	resp.Peers = m.Peers
	// A cluster created before secrets has no key: its nodes join
	// without one and say so when a secret is used.
	if raw, err := secrets.ReadRawKey(Dir(s.Root)); err == nil {
		resp.SecretsKey = raw
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	return resp, nil
}

// Join asks the manager at addr to admit this node with token. self is
// the node's manager addresses (nil for a worker); addr the node's IP.
func Join(ctx context.Context, joinAddr, token, nodeAddr string, self *Peer) (*JoinResponse, *pki.CA, *x509.Certificate, crypto.Signer, error) {
	fp, secret, err := pki.ParseToken(token)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key, _, der, err := pki.NewKeyAndCSR()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	body, _ := json.Marshal(JoinRequest{Secret: secret, CSR: der, Addr: nodeAddr, Self: self})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedTLS(fp)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+joinAddr+"/join", bytes.NewReader(body))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, errdefs.ErrForbidden) {
			return nil, nil, nil, nil, fmt.Errorf("joining %s: %w", joinAddr, err)
		}
		return nil, nil, nil, nil, fmt.Errorf("joining %s: %v: %w", joinAddr, err, errdefs.ErrUnavailable)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJoinBody))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct{ Message string }
		_ = json.Unmarshal(data, &e)
		return nil, nil, nil, nil, fmt.Errorf("the manager refused the join: %s: %w", e.Message, statusClass(res.StatusCode))
	}
	var jr JoinResponse
	if err := json.Unmarshal(data, &jr); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("join response: %w", err)
	}
	caCert, err := x509.ParseCertificate(jr.CACert)
	if err != nil || pki.Fingerprint(caCert) != fp {
		return nil, nil, nil, nil, fmt.Errorf("the manager sent another CA than the token's: %w", errdefs.ErrForbidden)
	}
	cert, err := x509.ParseCertificate(jr.Cert)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ca := &pki.CA{Cert: caCert}
	if len(jr.CAKey) > 0 {
		if ca.Key, err = pki.DecodeKey(jr.CAKey); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return &jr, ca, cert, key, nil
}

func statusClass(code int) error {
	switch code {
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthorized
	case http.StatusForbidden:
		return errdefs.ErrForbidden
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	}
	return errdefs.ErrUnavailable
}

// ServeJoin serves the join endpoint on l with the node's TLS
// certificate until ctx ends. Clients need no certificate (joiners have
// none yet); the secret authenticates them.
func ServeJoin(ctx context.Context, l net.Listener, tc *tls.Config, h http.Handler) {
	cfg := tc.Clone()
	cfg.ClientAuth = tls.NoClientCert
	srv := &http.Server{Handler: http.MaxBytesHandler(h, maxJoinBody), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	// Joins are rare: a few connections at once are plenty, and bound
	// what unauthenticated clients can make the manager hold.
	_ = srv.Serve(tls.NewListener(netutil.LimitListener(l, maxJoinConns), cfg))
}
