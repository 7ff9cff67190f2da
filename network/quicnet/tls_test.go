package quicnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// badCert is a certificate a Transport must reject, with the node ID a
// dialer would expect behind it.
type badCert struct {
	name string
	cert tls.Certificate
	id   identity.NodeID
	// checked is true when the certificate check of this package rejects
	// it. The others pass that check and fail at the TLS signature.
	checked bool
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func badCerts(t *testing.T) []badCert {
	t.Helper()

	// A valid certificate with one bit of its signature flipped. The
	// signature is the last field of the DER encoding.
	tamperedID := newIdentity(t)
	valid, err := newCertificate(tamperedID)
	if err != nil {
		t.Fatal(err)
	}
	der := slices.Clone(valid.Certificate[0])
	der[len(der)-1] ^= 0x01
	tampered := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: tamperedID.Private}

	// A certificate of a key that is not Ed25519.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ecdsa"},
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
	}
	ecDER, err := x509.CreateCertificate(rand.Reader, template, template, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	foreign := tls.Certificate{Certificate: [][]byte{ecDER}, PrivateKey: ecKey}

	// A valid certificate of one node, presented with another node's
	// key, which signs the handshake.
	owner, thief := newIdentity(t), newIdentity(t)
	stolen, err := newCertificate(owner)
	if err != nil {
		t.Fatal(err)
	}
	stolen.PrivateKey = thief.Private
	stolen.Leaf = nil

	return []badCert{
		{name: "tampered signature", cert: tampered, id: tamperedID.ID, checked: true},
		{name: "ECDSA key", cert: foreign, id: newIdentity(t).ID, checked: true},
		{name: "key of another node", cert: stolen, id: owner.ID},
	}
}

func TestPeerIDAcceptsOwnCertificate(t *testing.T) {
	id := newIdentity(t)
	cert, err := newCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := peerID(cert.Certificate)
	if err != nil {
		t.Fatalf("peerID: %v", err)
	}
	if got != id.ID {
		t.Errorf("peerID = %s, want %s", got.Short(), id.ID.Short())
	}
	if _, err := peerID(nil); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("peerID of no certificate: error = %v, want ErrBadCertificate", err)
	}
	if _, err := peerID([][]byte{cert.Certificate[0], cert.Certificate[0]}); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("peerID of two certificates: error = %v, want ErrBadCertificate", err)
	}
}

func TestServerRejectsBadCertificate(t *testing.T) {
	for _, bad := range badCerts(t) {
		t.Run(bad.name, func(t *testing.T) {
			server := newNode(t, nil)
			client := newRawEndpoint(t)

			// A TLS 1.3 client finishes its handshake before the server
			// has checked the client certificate, so the dial may
			// succeed and the server close the connection right after.
			qc, err := client.dial(t, server, bad.cert)
			if err == nil {
				<-qc.Context().Done()
				err = context.Cause(qc.Context())
			}
			var transportErr *quic.TransportError
			if !errors.As(err, &transportErr) || !transportErr.ErrorCode.IsCryptoError() {
				t.Errorf("dial error = %v, want a TLS handshake failure", err)
			}

			if bad.checked {
				waitFor(t, "the server to count the handshake failure", func() bool {
					return server.Stats().HandshakeFailures == 1
				})
			}
			if got := server.Stats().Conns; got != 0 {
				t.Errorf("server has %d open connections, want 0", got)
			}
			if got := server.requests.Load(); got != 0 {
				t.Errorf("server handled %d requests, want 0", got)
			}
		})
	}
}

func TestClientRejectsBadCertificate(t *testing.T) {
	for _, bad := range badCerts(t) {
		t.Run(bad.name, func(t *testing.T) {
			server := newRawEndpoint(t)
			ln, err := server.qt.Listen(rawTLSConfig(bad.cert, alpn(DefaultNetwork)), &quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serverAddr := server.qt.Conn.LocalAddr().(*net.UDPAddr).AddrPort()
			client := newNode(t, nil)

			to := wire.Contact{ID: bad.id, Addr: netip.AddrPortFrom(serverAddr.Addr().Unmap(), serverAddr.Port())}
			_, err = client.Request(context.Background(), to, &wire.Ping{})
			if !errors.Is(err, transport.ErrUnreachable) {
				t.Errorf("Request error = %v, want ErrUnreachable", err)
			}
			if errors.Is(err, transport.ErrPeerMismatch) {
				t.Errorf("Request error = %v, want no ErrPeerMismatch", err)
			}
			if bad.checked && !errors.Is(err, ErrBadCertificate) {
				t.Errorf("Request error = %v, want ErrBadCertificate", err)
			}
			if got := client.Stats().HandshakeFailures; got != 1 {
				t.Errorf("client counted %d handshake failures, want 1", got)
			}
			if got := client.Stats().Conns; got != 0 {
				t.Errorf("client has %d open connections, want 0", got)
			}
		})
	}
}
