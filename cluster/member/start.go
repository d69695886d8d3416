package member

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wharf-dev/wharf/cluster/pki"
	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

// Config is what the daemon's cluster flags say.
type Config struct {
	Root string
	// Init creates a cluster of Managers managers (1 or 3) with this node
	// its first manager, listening at Listen.
	Init     bool
	Managers int
	Listen   string
	// Join joins the cluster of the manager at Join with Token; Manager
	// asks to join as a manager (the token must be a manager's), which
	// needs Listen.
	Join, Token string
	Manager     bool
	// TaskCIDR and TaskSubnetBits are the task network Init records
	// (checked by the caller).
	TaskCIDR       string
	TaskSubnetBits int
	Log            *slog.Logger
}

// Node is a running member: its membership, the NATS connection to the
// cluster's state, and, on a manager, the embedded server.
type Node struct {
	M    *Membership
	CA   *pki.CA
	TLS  *tls.Config
	Conn *nats.Conn
	Box  *natsbox.Box // managers only
	root string
	stop context.CancelFunc
	// mu serialises the writers of the membership file.
	mu sync.Mutex
}

// UpdatePeers records the managers the cluster's state lists (package
// function UpdatePeers), serialised with joins.
func (n *Node) UpdatePeers(peers []Peer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return UpdatePeers(n.root, peers)
}

// Close stops the join endpoint and closes the NATS connection and the
// embedded server.
func (n *Node) Close() {
	if n.stop != nil {
		n.stop()
	}
	if n.Box != nil {
		n.Box.Close()
	} else if n.Conn != nil {
		n.Conn.Close()
	}
}

// Tokens are a manager's join tokens.
func (n *Node) Tokens() (worker, manager string, err error) {
	if !n.M.Manager {
		return "", "", fmt.Errorf("join tokens are kept by managers; this node is a worker: %w", errdefs.ErrForbidden)
	}
	fp := n.CA.Fingerprint()
	return pki.Token(fp, n.M.WorkerSecret), pki.Token(fp, n.M.ManagerSecret), nil
}

// Start creates, joins or resumes the node's membership (nil, nil when
// the node is in no cluster and c asks for none) and starts its NATS.
func Start(ctx context.Context, c Config) (*Node, error) {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	files := pki.Files{Dir: Dir(c.Root)}
	m, err := Load(c.Root)
	switch {
	case err == nil:
		if c.Init || c.Join != "" {
			c.Log.Info("already a member of a cluster; --cluster-init and --join are ignored", "node", m.NodeID)
		}
	case !errdefs.IsNotFound(err):
		return nil, err
	case c.Init:
		if m, err = initCluster(c, files); err != nil {
			return nil, err
		}
	case c.Join != "":
		if m, err = joinCluster(ctx, c, files); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	ca, cert, key, err := files.Load()
	if err != nil {
		return nil, fmt.Errorf("the cluster's certificates: %w", err)
	}
	n := &Node{M: m, CA: ca, TLS: pki.NodeTLS(ca.Cert, cert, key), root: c.Root}
	if m.Manager {
		if err := n.startManager(c); err != nil {
			return nil, err
		}
		return n, nil
	}
	var urls []string
	for _, p := range m.Peers {
		urls = append(urls, "tls://"+p.ClientAddr)
	}
	n.Conn, err = nats.Connect(joinURLs(urls), nats.Secure(n.TLS), nats.Name("wharf-agent "+m.NodeID),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster's managers: %v: %w", err, errdefs.ErrUnavailable)
	}
	return n, nil
}

func joinURLs(urls []string) string {
	out := ""
	for i, u := range urls {
		if i > 0 {
			out += ","
		}
		out += u
	}
	return out
}

func (n *Node) startManager(c Config) error {
	var routes []string
	for _, p := range n.M.Peers {
		routes = append(routes, natsbox.RouteURL(p.RouteAddr))
	}
	box, err := natsbox.Start(natsbox.Options{
		StoreDir: filepath.Join(Dir(c.Root), "nats"), Name: "wharf-cluster " + n.M.NodeID, Log: c.Log,
		StartTimeout: 30 * time.Second,
		Cluster: &natsbox.Cluster{Name: "wharf-" + n.M.ClusterID, ServerName: n.M.NodeID,
			ClientAddr: n.M.Self.ClientAddr, RouteAddr: n.M.Self.RouteAddr, Routes: routes,
			TLS: n.TLS, Standalone: n.M.Managers == 1},
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", n.M.Self.JoinAddr)
	if err != nil {
		box.Close()
		return fmt.Errorf("the join endpoint: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go ServeJoin(ctx, l, n.TLS, &JoinServer{Root: c.Root, CA: n.CA, Log: c.Log, Mu: &n.mu})
	n.Box, n.Conn, n.stop = box, box.Conn(), cancel
	c.Log.Info("cluster manager listening", "node", n.M.NodeID, "join", n.M.Self.JoinAddr, "clients", n.M.Self.ClientAddr, "routes", n.M.Self.RouteAddr, "managers", n.M.Managers)
	return nil
}

// selfPeer is a manager's addresses from its --cluster-listen.
func selfPeer(listen string) (Peer, net.IP, error) {
	j, cl, r, err := Ports(listen)
	if err != nil {
		return Peer{}, nil, err
	}
	h, _, _ := net.SplitHostPort(listen)
	ip := net.ParseIP(h)
	if ip == nil || ip.IsUnspecified() {
		return Peer{}, nil, fmt.Errorf("--cluster-listen %q: want the node's IP address (other nodes dial it): %w", listen, errdefs.ErrInvalidArgument)
	}
	return Peer{JoinAddr: j, ClientAddr: cl, RouteAddr: r}, ip, nil
}

func initCluster(c Config, files pki.Files) (*Membership, error) {
	if c.Managers != 1 && c.Managers != 3 {
		return nil, fmt.Errorf("--cluster-managers %d: a cluster has 1 or 3 managers: %w", c.Managers, errdefs.ErrInvalidArgument)
	}
	self, ip, err := selfPeer(c.Listen)
	if err != nil {
		return nil, err
	}
	id := NewNodeID()
	self.ID = id
	clusterID := NewNodeID()
	ca, err := pki.NewCA(clusterID)
	if err != nil {
		return nil, err
	}
	key, csr, _, err := pki.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	cert, err := ca.Sign(csr, id, pki.RoleManager, []net.IP{ip})
	if err != nil {
		return nil, err
	}
	if err := files.SaveCA(ca); err != nil {
		return nil, err
	}
	if err := files.SaveNode(cert, key); err != nil {
		return nil, err
	}
	raw, err := secrets.NewRawKey()
	if err != nil {
		return nil, err
	}
	if err := secrets.SaveKey(Dir(c.Root), raw); err != nil {
		return nil, err
	}
	m := &Membership{ClusterID: clusterID, NodeID: id, Manager: true, Managers: c.Managers, Self: self,
		Peers: []Peer{self}, WorkerSecret: pki.NewSecret(), ManagerSecret: pki.NewSecret(),
		TaskCIDR: c.TaskCIDR, TaskSubnetBits: c.TaskSubnetBits}
	if err := m.Save(c.Root); err != nil {
		return nil, err
	}
	c.Log.Info("cluster created", "cluster", clusterID, "node", id, "managers", c.Managers)
	return m, nil
}

func joinCluster(ctx context.Context, c Config, files pki.Files) (*Membership, error) {
	if c.Token == "" {
		return nil, fmt.Errorf("--join needs --cluster-token: %w", errdefs.ErrInvalidArgument)
	}
	var self *Peer
	var addr string
	if c.Manager {
		p, ip, err := selfPeer(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("--manager needs --cluster-listen: %w", err)
		}
		self, addr = &p, ip.String()
	} else {
		// The address this node reaches the manager from.
		conn, err := net.Dial("udp", c.Join)
		if err != nil {
			return nil, fmt.Errorf("--join %s: %v: %w", c.Join, err, errdefs.ErrInvalidArgument)
		}
		addr = conn.LocalAddr().(*net.UDPAddr).IP.String()
		conn.Close()
	}
	jr, ca, cert, key, err := Join(ctx, c.Join, c.Token, addr, self)
	if err != nil {
		return nil, err
	}
	if c.Manager && !jr.Manager {
		return nil, fmt.Errorf("--manager: the token is a worker's: %w", errdefs.ErrForbidden)
	}
	if err := files.SaveCA(ca); err != nil {
		return nil, err
	}
	if err := files.SaveNode(cert, key); err != nil {
		return nil, err
	}
	if len(jr.SecretsKey) > 0 {
		if err := secrets.SaveKey(Dir(c.Root), jr.SecretsKey); err != nil {
			return nil, err
		}
	}
	m := &Membership{ClusterID: jr.ClusterID, NodeID: jr.NodeID, Manager: jr.Manager, Managers: jr.Managers,
		Peers: jr.Peers, WorkerSecret: jr.WorkerSecret, ManagerSecret: jr.ManagerSecret}
	if self != nil {
		m.Self = *self
		m.Self.ID = jr.NodeID
		m.AddPeer(m.Self)
	} else {
		m.Self = Peer{ID: jr.NodeID, JoinAddr: addr}
	}
	if err := m.Save(c.Root); err != nil {
		return nil, err
	}
	c.Log.Info("joined the cluster", "cluster", jr.ClusterID, "node", jr.NodeID, "manager", jr.Manager)
	return m, nil
}
