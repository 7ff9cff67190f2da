package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/yuinet/yui/network/discovery"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/quicnet"
	"github.com/yuinet/yui/network/transport"
)

// listenQUIC opens the node's QUIC transport. A port given by the user is
// used as given; the default port falls back to a free one when taken, so
// several nodes can run on one host with no flags but --data-dir.
func listenQUIC(cfg Config, id *identity.Identity, log *slog.Logger, h transport.Handler) (*quicnet.Transport, error) {
	return quicnet.Listen(quicnet.Config{
		Identity:       id,
		Addr:           cfg.Listen,
		Fallback:       cfg.listenFallback || !hasPort(cfg.Listen),
		Network:        cfg.Network,
		Handler:        h,
		Logger:         log,
		RequestTimeout: cfg.Kademlia.RequestTimeout,
	})
}

// hasPort reports whether addr names a port; quicnet adds DefaultPort to
// a bare host.
func hasPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

// seedFromID seeds the routing core's random choices from the node ID, so
// a node's behaviour can be replayed from its ID and inputs alone, and
// different nodes pick different refresh targets.
func seedFromID(id identity.NodeID) uint64 { return binary.BigEndian.Uint64(id[:8]) }

// identifier is a transport that can learn who listens at an address.
type identifier interface {
	Identify(ctx context.Context, addr netip.AddrPort) (identity.NodeID, error)
}

// probeID learns the ID of the node listening at addr.
func probeID(ctx context.Context, tr transport.Transport, addr netip.AddrPort) (identity.NodeID, error) {
	idf, ok := tr.(identifier)
	if !ok {
		return identity.NodeID{}, fmt.Errorf("node: transport %T cannot reach a node by address alone", tr)
	}
	return idf.Identify(ctx, addr)
}

// discoverer is what the node needs of LAN discovery.
type discoverer interface {
	Addr() string
	Close() error
}

type lanDiscovery struct{ *discovery.Discoverer }

func (d lanDiscovery) Addr() string { return d.Discoverer.Addr().String() }

// startDiscovery starts LAN beacons unless they are turned off, and feeds
// every node they find to the routing core as a neighbour.
func (n *Node) startDiscovery() error {
	if n.cfg.DiscoveryPort < 0 {
		return nil
	}
	d, err := discovery.New(discovery.Config{
		Identity:     n.id,
		Network:      n.cfg.Network,
		ListenPort:   int(n.tr.LocalAddr().Port()),
		Port:         n.cfg.DiscoveryPort,
		MaxClockSkew: n.cfg.MaxClockSkew,
		Logger:       n.log,
	})
	if err != nil {
		return err
	}
	n.disc = lanDiscovery{d}
	go func() {
		for c := range d.Contacts() {
			n.router.addNeighbour(c)
			n.alertFound(c)
		}
	}()
	return nil
}
