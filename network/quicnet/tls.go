package quicnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
)

// ErrBadCertificate reports a peer certificate that does not prove a node
// ID: not exactly one certificate, a key that is not Ed25519, or a
// self-signature that does not verify.
var ErrBadCertificate = errors.New("quicnet: invalid peer certificate")

// Certificate validity. Peers ignore both dates, because a node ID is
// tied to the key and not to a period, and because devices without a
// real-time clock often boot with a wrong date. NotAfter is the
// "no well-defined expiration date" of RFC 5280, section 4.1.2.5.
var (
	certNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// newCertificate returns a self-signed X.509 certificate whose public key
// is the node's Ed25519 key. Its common name is the node ID, for people
// reading packet captures, but peers derive the ID from the key alone.
func newCertificate(id *identity.Identity) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("quicnet: certificate serial number: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.ID.String()},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, id.Public, id.Private)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("quicnet: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("quicnet: parse own certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.Private, Leaf: leaf}, nil
}

// peerID checks the certificate chain a peer presented and returns the
// node ID of its key.
//
// The check does not prove that the peer holds the key. TLS does that:
// the peer signs the handshake transcript with the certificate's key, and
// crypto/tls verifies that signature against the certificate after this
// check has passed.
func peerID(rawCerts [][]byte) (identity.NodeID, error) {
	if len(rawCerts) != 1 {
		return identity.NodeID{}, fmt.Errorf("%w: peer presented %d certificates, want exactly 1", ErrBadCertificate, len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return identity.NodeID{}, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.NodeID{}, fmt.Errorf("%w: key is %T, want Ed25519", ErrBadCertificate, cert.PublicKey)
	}
	if cert.SignatureAlgorithm != x509.PureEd25519 {
		return identity.NodeID{}, fmt.Errorf("%w: signed with %v, want Ed25519", ErrBadCertificate, cert.SignatureAlgorithm)
	}

	// CheckSignatureFrom would also demand that the issuer be a CA, which
	// a node certificate is not. Only the self-signature matters here.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return identity.NodeID{}, fmt.Errorf("%w: self-signature: %v", ErrBadCertificate, err)
	}
	return identity.IDFromPublicKey(pub), nil
}

// baseTLSConfig returns the settings that both ends of a connection use.
//
// Session tickets stay off: a resumed session carries no certificate, so
// the peer would not prove its key again.
func baseTLSConfig(cert tls.Certificate, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		NextProtos:             []string{proto},
		SessionTicketsDisabled: true,
	}
}

// serverTLSConfig returns the TLS settings for accepted connections:
// every client must present a certificate that peerID accepts. reject is
// called with the reason for each certificate rejected.
func serverTLSConfig(cert tls.Certificate, proto string, reject func(error)) *tls.Config {
	conf := baseTLSConfig(cert, proto)
	conf.ClientAuth = tls.RequireAnyClientCert
	conf.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		_, err := peerID(rawCerts)
		if err != nil {
			reject(err)
		}
		return err
	}
	return conf
}

// dialCheck records what the certificate check of one dial found, so the
// dialer can tell a wrong peer from other handshake failures.
type dialCheck struct {
	mu       sync.Mutex
	observed identity.NodeID // the peer's ID if its certificate was valid
	err      error           // the reason the certificate was rejected
}

func (c *dialCheck) result() (identity.NodeID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.observed, c.err
}

// clientTLSConfig returns the TLS settings for dialing the node expected.
// The handshake fails unless the server's certificate passes peerID and
// names that node, so this node never proves its own identity to a peer
// it did not mean to reach.
func clientTLSConfig(cert tls.Certificate, proto string, expected identity.NodeID, check *dialCheck) *tls.Config {
	conf := baseTLSConfig(cert, proto)

	// The web PKI does not apply to node certificates, so the callback
	// below replaces its chain verification.
	conf.InsecureSkipVerify = true

	conf.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		id, err := peerID(rawCerts)
		if err == nil && id != expected {
			err = fmt.Errorf("peer proved node ID %s, want %s", id.Short(), expected.Short())
		}
		check.mu.Lock()
		check.observed, check.err = id, err
		check.mu.Unlock()
		return err
	}
	return conf
}
