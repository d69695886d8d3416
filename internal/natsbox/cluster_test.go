package natsbox

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/cluster/pki"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func nodeTLS(t *testing.T, ca *pki.CA, id string) *tls.Config {
	t.Helper()
	key, csr, _, err := pki.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(csr, id, pki.RoleManager, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return pki.NodeTLS(ca.Cert, cert, key)
}

type testManager struct {
	box                *Box
	client, route, dir string
	c                  *Cluster
}

func startManager(t *testing.T, m *testManager) {
	t.Helper()
	b, err := Start(Options{StoreDir: m.dir, Cluster: m.c, StartTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m.box = b
	t.Cleanup(b.Close)
}

// Three managers joining one after the other form one JetStream cluster;
// an R3 KV bucket survives the loss of the first manager: reads and writes
// go on through the two left. The client port wants the cluster's TLS.
func TestClusterOfThreeSurvivesOneManager(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	var ms []*testManager
	for i := 0; i < 3; i++ {
		m := &testManager{client: freePort(t), route: freePort(t), dir: filepath.Join(t.TempDir(), "nats")}
		ms = append(ms, m)
	}
	for i, m := range ms {
		var routes []string
		// As wharf's joins do: the first knows itself alone, each next
		// one the managers before it.
		for _, o := range ms[:i+1] {
			routes = append(routes, RouteURL(o.route))
		}
		m.c = &Cluster{Name: "wharf", ServerName: fmt.Sprintf("n%d", i), ClientAddr: m.client, RouteAddr: m.route,
			Routes: routes, TLS: nodeTLS(t, ca, fmt.Sprintf("n%d", i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, m := range ms {
		startManager(t, m)
	}
	js, err := jetstream.New(ms[0].box.Conn())
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		kv, err = js.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{Bucket: "nodes", Replicas: 3})
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("an R3 bucket on three managers: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := kv.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Wait until every replica is current.
	for {
		s, err := js.Stream(ctx, "KV_nodes")
		if err == nil {
			info, err := s.Info(ctx)
			if err == nil && info.Cluster != nil && len(info.Cluster.Replicas) == 2 && info.Cluster.Replicas[0].Current && info.Cluster.Replicas[1].Current {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("replicas never became current")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ms[0].box.Close()

	// A client with a node certificate reaches the second manager over TLS.
	nc, err := nats.Connect("tls://"+ms[1].client, nats.Secure(nodeTLS(t, ca, "client")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js2, _ := jetstream.New(nc)
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		kv2, err := js2.KeyValue(actx, "nodes")
		if err == nil {
			var e jetstream.KeyValueEntry
			if e, err = kv2.Get(actx, "a"); err == nil {
				if string(e.Value()) != "1" {
					t.Fatalf("a = %q", e.Value())
				}
				if _, err = kv2.Put(actx, "b", []byte("2")); err == nil {
					acancel()
					break
				}
			}
		}
		acancel()
		if ctx.Err() != nil {
			t.Fatalf("after the first manager left: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Without a certificate, and in plain text, the client port refuses.
	if c, err := nats.Connect("nats://"+ms[1].client, nats.Timeout(3*time.Second)); err == nil {
		c.Close()
		t.Fatal("a plain connection was accepted")
	}
	if c, err := nats.Connect("tls://"+ms[1].client, nats.Timeout(3*time.Second), nats.Secure(&tls.Config{RootCAs: ca.Pool()})); err == nil {
		c.Close()
		t.Fatal("a TLS connection without a client certificate was accepted")
	}
	other, _ := pki.NewCA("other")
	if c, err := nats.Connect("tls://"+ms[1].client, nats.Timeout(3*time.Second), nats.Secure(nodeTLS(t, other, "x"))); err == nil {
		c.Close()
		t.Fatal("a certificate of another CA was accepted")
	}
}

// A cluster of one manager runs JetStream standalone and serves agents
// over mutual TLS.
func TestStandaloneManager(t *testing.T) {
	ca, _ := pki.NewCA("test")
	m := &testManager{client: freePort(t), dir: filepath.Join(t.TempDir(), "nats")}
	m.c = &Cluster{Name: "wharf", ServerName: "n0", ClientAddr: m.client, TLS: nodeTLS(t, ca, "n0"), Standalone: true}
	startManager(t, m)
	nc, err := nats.Connect("tls://"+m.client, nats.Secure(nodeTLS(t, ca, "w")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "nodes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
}
