// Package pki is a cluster's certificate authority, the certificates it
// issues to nodes, and the join tokens, as Docker swarm has them.
//
// At `wharf daemon --cluster-init` the first manager creates the CA (an
// ECDSA P-256 key and a self-signed certificate valid for 10 years) and
// two join secrets, one for workers and one for managers. A join token is
//
//	WHARFTKN-1-<sha256 of the CA certificate's DER, hex>-<secret, hex>
//
// The joiner knows nothing else about the cluster: it dials the manager's
// join endpoint with TLS, accepts the certificate chain only if it ends in
// a CA with the token's fingerprint and verifies against it (so no man in
// the middle can pose as the manager), and sends the token's secret with
// a certificate request; the manager compares the secret (in constant
// time) with its two and signs a node certificate whose role (the
// certificate's OU: "wharf-manager" or "wharf-worker") is the secret's.
// The node's private key never leaves the node.
//
// Node certificates carry the node's id as CommonName, its addresses as
// IP SANs, and both server and client key usages: one certificate serves
// the node's listeners and authenticates it when it dials.
//
// On disk, under <root>/cluster (0700), files 0600:
//
//	ca.pem        the CA's certificate
//	ca-key.pem    the CA's key (managers only: they sign the joiners')
//	node.pem      this node's certificate
//	node-key.pem  this node's key
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Roles a node certificate carries (its OU).
const (
	RoleManager = "wharf-manager"
	RoleWorker  = "wharf-worker"
)

// tokenPrefix starts every join token.
const tokenPrefix = "WHARFTKN-1-"

// nodeValidity is how long a node certificate is valid.
const nodeValidity = 5 * 365 * 24 * time.Hour

// CA is the cluster's certificate authority. Key is nil on a worker.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a CA for the cluster named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "wharf cluster CA " + name, Organization: []string{"wharf"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Fingerprint is the sha256 of the CA certificate's DER, in hex.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.Cert) }

// Fingerprint is the sha256 of a certificate's DER, in hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Pool is a pool holding the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Sign issues a node certificate for the public key of csr, with the id,
// role and addresses the caller decided (never those the request asks
// for: the joiner does not choose its role).
func (ca *CA) Sign(csr *x509.CertificateRequest, nodeID, role string, ips []net.IP) (*x509.Certificate, error) {
	if ca.Key == nil {
		return nil, fmt.Errorf("this node holds no CA key: %w", errdefs.ErrConflict)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if role != RoleManager && role != RoleWorker {
		return nil, fmt.Errorf("role %q: %w", role, errdefs.ErrInvalidArgument)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: nodeID, OrganizationalUnit: []string{role}, Organization: []string{"wharf"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(nodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  ips,
		DNSNames:     []string{nodeID},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// NewKeyAndCSR makes a node's key and a certificate request for it.
func NewKeyAndCSR() (*ecdsa.PrivateKey, *x509.CertificateRequest, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "wharf node"}}, key)
	if err != nil {
		return nil, nil, nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	return key, csr, der, err
}

// Role is the role a node certificate carries ("" for none).
func Role(c *x509.Certificate) string {
	for _, ou := range c.Subject.OrganizationalUnit {
		if ou == RoleManager || ou == RoleWorker {
			return ou
		}
	}
	return ""
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// NewSecret returns a fresh join secret.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Token is a join token for the CA with fingerprint fp and secret.
func Token(fp, secret string) string { return tokenPrefix + fp + "-" + secret }

// ParseToken splits a join token into the CA fingerprint and the secret.
func ParseToken(tok string) (fp, secret string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), tokenPrefix)
	fp, secret, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(fp) != 64 || len(secret) < 32 || !isHex(fp) || !isHex(secret) {
		return "", "", fmt.Errorf("not a wharf join token (want %s<CA sha256>-<secret>): %w", tokenPrefix, errdefs.ErrInvalidArgument)
	}
	return fp, secret, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// SecretEqual compares two secrets in constant time.
func SecretEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// PinnedTLS is the client TLS config of a joiner: the server's chain must
// end in a CA with fingerprint fp, and the server's certificate must
// verify against that CA.
func PinnedTLS(fp string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is checked in VerifyPeerCertificate against the CA the
		// token pins, not against the system's roots.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) < 2 {
				return fmt.Errorf("the manager sent no CA certificate: %w", errdefs.ErrForbidden)
			}
			ca, err := x509.ParseCertificate(raw[len(raw)-1])
			if err != nil {
				return err
			}
			if Fingerprint(ca) != fp {
				return fmt.Errorf("the manager's CA is not the one the join token names (%s): %w", fp[:12], errdefs.ErrForbidden)
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("the manager's certificate: %v: %w", err, errdefs.ErrForbidden)
			}
			return nil
		},
	}
}

// NodeTLS is the TLS config of a cluster node's listeners and dialers:
// its certificate (sent with the CA, so that joiners can pin it), and
// mutual authentication against the CA.
func NodeTLS(ca *x509.Certificate, cert *x509.Certificate, key crypto.Signer) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, ca.Raw}, PrivateKey: key, Leaf: cert}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// Files are the paths of a node's PKI files under dir.
type Files struct{ Dir string }

func (f Files) path(name string) string { return filepath.Join(f.Dir, name) }

// SaveCA writes the CA certificate, and its key when ca has one.
func (f Files) SaveCA(ca *CA) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	if err := writePEM(f.path("ca.pem"), "CERTIFICATE", ca.Cert.Raw); err != nil {
		return err
	}
	if ca.Key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return err
	}
	return writePEM(f.path("ca-key.pem"), "PRIVATE KEY", der)
}

// SaveNode writes the node's certificate and key.
func (f Files) SaveNode(cert *x509.Certificate, key crypto.Signer) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(f.path("node-key.pem"), "PRIVATE KEY", der); err != nil {
		return err
	}
	return writePEM(f.path("node.pem"), "CERTIFICATE", cert.Raw)
}

// Load reads the CA (with its key if present) and the node's certificate
// and key.
func (f Files) Load() (*CA, *x509.Certificate, crypto.Signer, error) {
	caCert, err := readCert(f.path("ca.pem"))
	if err != nil {
		return nil, nil, nil, err
	}
	ca := &CA{Cert: caCert}
	if k, err := readKey(f.path("ca-key.pem")); err == nil {
		ca.Key = k
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, err
	}
	cert, err := readCert(f.path("node.pem"))
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := readKey(f.path("node-key.pem"))
	if err != nil {
		return nil, nil, nil, err
	}
	return ca, cert, key, nil
}

// EncodeCert is a certificate in PEM.
func EncodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// DecodeCert parses one PEM certificate.
func DecodeCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM certificate: %w", errdefs.ErrInvalidArgument)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// EncodeKey is a private key in PEM (PKCS #8).
func EncodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// DecodeKey parses a PEM private key.
func DecodeKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("not a PEM key: %w", errdefs.ErrInvalidArgument)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key is not a signer: %w", errdefs.ErrInvalidArgument)
	}
	return s, nil
}

func writePEM(path, typ string, der []byte) error {
	return atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeCert(b)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeKey(b)
}
