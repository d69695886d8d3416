package natsbox

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wharf-dev/wharf/errdefs"
)

// Cluster makes the embedded server a cluster manager's.
//
// The server is named after the node (ServerName) and listens for the
// agents of worker nodes at ClientAddr.
//
// A cluster of one manager (Standalone) runs JetStream alone: NATS cannot
// run a clustered JetStream of one server (its meta group expects at
// least two peers and would never elect a leader), and its clustered mode
// deletes, as orphans, the streams a standalone server left. So the
// number of managers is decided when the cluster is created, 1 or 3.
//
// Otherwise the server belongs to the NATS cluster Name, listens for
// routes from the other managers at RouteAddr and dials those in Routes
// (its own among them is harmless: the server recognises itself).
// JetStream runs in clustered mode from the first manager on (a cluster
// port makes it so), so that the managers joining later grow the same
// meta group; it elects a leader once two managers are up.
//
// TLS is required on both listeners and both directions: TLS holds the
// node's certificate (as server and as client), RootCAs and ClientCAs the
// cluster's CA, and ClientAuth RequireAndVerifyClientCert, so a peer
// without a certificate from the cluster's CA is refused before it can
// send a byte of the protocol.
type Cluster struct {
	Name       string
	ServerName string
	ClientAddr string
	RouteAddr  string
	Routes     []string
	TLS        *tls.Config
	Standalone bool
}

func (c *Cluster) apply(so *server.Options) {
	so.ServerName = c.ServerName
	so.DontListen = false
	so.Host, so.Port = splitAddr(c.ClientAddr)
	so.TLSConfig = c.TLS
	so.TLSVerify = true
	so.TLSTimeout = 5
	// Never a monitoring or websocket port.
	so.HTTPPort = 0
	so.ClientAdvertise = c.ClientAddr
	so.JetStreamMaxMemory = 64 << 20
	so.WriteDeadline = 10 * time.Second
	if c.Standalone {
		return
	}
	so.Cluster.Name = c.Name
	so.Cluster.Host, so.Cluster.Port = splitAddr(c.RouteAddr)
	so.Cluster.TLSConfig = c.TLS
	so.Cluster.TLSTimeout = 5
	// Keep dialing the other managers while they are down: the cluster
	// heals when they come back.
	so.Cluster.ConnectRetries = 0
	for _, r := range c.Routes {
		if u, err := url.Parse(r); err == nil {
			so.Routes = append(so.Routes, u)
		}
	}
	so.Cluster.PoolSize = -1
	so.Cluster.NoAdvertise = false
	so.Cluster.Advertise = c.RouteAddr
}

// Validate checks a Cluster's addresses and TLS.
func (c *Cluster) Validate() error {
	if c.Name == "" || c.ServerName == "" || c.TLS == nil {
		return fmt.Errorf("cluster NATS: name, server name and TLS are required: %w", errdefs.ErrInvalidArgument)
	}
	addrs := []string{c.ClientAddr}
	if !c.Standalone {
		addrs = append(addrs, c.RouteAddr)
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("cluster NATS: address %q: %v: %w", a, err, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func splitAddr(a string) (string, int) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return a, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// RouteURL is the URL other managers dial to route to addr.
func RouteURL(addr string) string { return "tls://" + addr }
