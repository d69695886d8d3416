package pki

import (
	"crypto/x509"
	"net"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestToken(t *testing.T) {
	ca, err := NewCA("c")
	if err != nil {
		t.Fatal(err)
	}
	s := NewSecret()
	fp, sec, err := ParseToken(Token(ca.Fingerprint(), s))
	if err != nil || fp != ca.Fingerprint() || sec != s {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "WHARFTKN-1-", "SWMTKN-1-" + ca.Fingerprint() + "-" + s, "WHARFTKN-1-zz-" + s, "WHARFTKN-1-" + ca.Fingerprint() + "-short"} {
		if _, _, err := ParseToken(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if SecretEqual("", "") || !SecretEqual(s, s) || SecretEqual(s, NewSecret()) {
		t.Fatal("SecretEqual")
	}
}

// A node certificate carries the role and id the CA chose, verifies
// against the CA only, and serves as both server and client.
func TestSign(t *testing.T) {
	ca, _ := NewCA("c")
	other, _ := NewCA("o")
	_, csr, _, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(csr, "n1", RoleWorker, []net.IP{net.ParseIP("10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	if Role(cert) != RoleWorker || cert.Subject.CommonName != "n1" {
		t.Fatalf("role %q cn %q", Role(cert), cert.Subject.CommonName)
	}
	if _, err := ca.Sign(csr, "n1", "admin", nil); err == nil {
		t.Fatal("a role of the joiner's choosing was signed")
	}
	if err := cert.VerifyHostname("10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509Opts(other)); err == nil {
		t.Fatal("verified against another CA")
	}
	if _, err := cert.Verify(x509Opts(ca)); err != nil {
		t.Fatal(err)
	}
	worker := &CA{Cert: ca.Cert}
	if _, err := worker.Sign(csr, "n2", RoleWorker, nil); err == nil {
		t.Fatal("signed without the CA key")
	}
}

func x509Opts(ca *CA) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
}
