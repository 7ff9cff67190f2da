package quicnet

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
)

// Identify connects to addr, accepting any node that proves a valid key,
// and returns that node's ID. It serves bootstrap addresses, which users
// give without an ID. The peer still proves its key as in every
// handshake, and the connection stays open for later requests to it.
//
// NOTE: whoever answers at addr is believed to be the node there; an
// attacker on the path could answer instead. Routing then checks that
// node like any other contact, but the first contact is only as good as
// the address the user gave.
func (t *Transport) Identify(ctx context.Context, addr netip.AddrPort) (identity.NodeID, error) {
	if !addr.IsValid() || addr.Port() == 0 {
		return identity.NodeID{}, fmt.Errorf("%w: invalid address %q", transport.ErrUnreachable, addr)
	}
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()

	var check dialCheck
	conf := baseTLSConfig(t.cert, t.proto)
	conf.InsecureSkipVerify = true // replaced by the check below, as in clientTLSConfig
	conf.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		id, err := peerID(rawCerts)
		check.mu.Lock()
		check.observed, check.err = id, err
		check.mu.Unlock()
		return err
	}

	qc, err := t.qt.Dial(ctx, net.UDPAddrFromAddrPort(addr), conf, t.quicConf)
	if err != nil {
		if _, certErr := check.result(); certErr != nil {
			t.stats.handshakeFailures.Add(1)
			return identity.NodeID{}, fmt.Errorf("%w: identify %s: %w", transport.ErrUnreachable, addr, certErr)
		}
		if otherNetwork(err) {
			return identity.NodeID{}, t.otherNetworkError("identify "+addr.String(), err)
		}
		return identity.NodeID{}, fmt.Errorf("%w: identify %s: %v", transport.ErrUnreachable, addr, err)
	}

	id, _ := check.result()
	if id == t.cfg.Identity.ID {
		qc.CloseWithError(codeShutdown, "connected to self")
		return identity.NodeID{}, fmt.Errorf("quicnet: identify %s: %w", addr, transport.ErrSelf)
	}
	t.stats.dials.Add(1)
	if t.addConn(qc, transport.Peer{ID: id, Addr: udpAddrPort(qc.RemoteAddr())}, false) == nil {
		return identity.NodeID{}, transport.ErrClosed
	}
	return id, nil
}
