package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/spf13/pflag"
)

// tlsConfig holds the flags of the daemon's optional TCP listener, which
// serves the same APIs as the unix socket to clients that present a
// certificate signed by --tlscacert (docker's --tlsverify model: such a
// client has the same power as root on the socket).
type tlsConfig struct {
	addr, ca, cert, key string
}

func addTLSFlags(f *pflag.FlagSet, c *tlsConfig) {
	f.StringVar(&c.addr, "tls-listen", "", "also serve the APIs on this TCP address (e.g. 127.0.0.1:2376) with TLS client authentication")
	f.StringVar(&c.ca, "tlscacert", "", "CA certificate that client certificates must chain to (with --tls-listen)")
	f.StringVar(&c.cert, "tlscert", "", "server certificate (with --tls-listen)")
	f.StringVar(&c.key, "tlskey", "", "server private key (with --tls-listen)")
}

// listenTLS opens the TCP listener; it refuses to run without client
// authentication.
func listenTLS(c tlsConfig) (net.Listener, error) {
	if c.ca == "" || c.cert == "" || c.key == "" {
		return nil, errors.New("--tls-listen needs --tlscacert, --tlscert and --tlskey: the TCP listener only accepts clients with a certificate")
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("--tlscert/--tlskey: %w", err)
	}
	caPEM, err := os.ReadFile(c.ca)
	if err != nil {
		return nil, fmt.Errorf("--tlscacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--tlscacert %s: no PEM certificate in it", c.ca)
	}
	return tls.Listen("tcp", c.addr, &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
}
