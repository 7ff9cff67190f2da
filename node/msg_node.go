package node

import (
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// startMsgs loads the saved messages and starts routing messages between
// users.
func (n *Node) startMsgs() error {
	// The store's Closest caches lookups for a while, an empty result
	// too, which would delay a restarted node's first announcement. The
	// message Machine keeps its own shorter cache, so it looks up afresh.
	s, err := newMsgService(n.log, n.tr, n.storage.store, n.storage.net.lookup, n.self, n.cfg.DataDir, n.cfg.MsgQuota)
	if err != nil {
		return err
	}
	n.metrics.registry.MustRegister(newMsgCollector(s.counters))
	s.start()
	n.msgs.Store(s)
	return nil
}

// hostAddr returns local, or when local's address is unspecified (a node
// listening on every interface), the same port at one of the host's own
// addresses. Peers learn a node's address from the packets it sends, but
// they dial a contact that the node hands out itself as given, such as a
// job's manager or backup, or a user's location record. Peers drop a
// contact with an unspecified address. A private or global IPv4 address
// is preferred, then a global IPv6 one, then loopback.
//
// NOTE: the address is chosen once at start; a host whose address changes
// announces the old one until the node restarts.
func hostAddr(local netip.AddrPort, addrs func() ([]net.Addr, error)) netip.AddrPort {
	if !local.Addr().IsUnspecified() {
		return local
	}
	list, err := addrs()
	if err != nil {
		return local
	}
	best, rank := local.Addr(), 0
	for _, a := range list {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := prefix.Addr().Unmap()
		r := 0
		switch {
		case ip.Is4() && (ip.IsPrivate() || ip.IsGlobalUnicast()):
			r = 3
		case ip.Is6() && ip.IsGlobalUnicast():
			r = 2
		case ip.IsLoopback():
			r = 1
		}
		if r > rank {
			best, rank = ip, r
		}
	}
	return netip.AddrPortFrom(best, local.Port())
}

func (n *Node) closeMsgs() {
	if s := n.msgs.Load(); s != nil {
		s.close()
	}
}

// handleMsg serves a messaging request from a peer. Every messaging
// message is a request or a response; a one-way one is dropped.
func (n *Node) handleMsg(from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	s := n.msgs.Load()
	if !isRequest {
		return nil
	}
	if s == nil {
		return &wire.Error{Code: wire.CodeOverloaded, Message: "messages are not running yet"}
	}
	return s.handle(from, msg)
}

func isMsgType(t wire.Type) bool {
	switch t {
	case wire.TypeMsgDeliver, wire.TypeMsgAck, wire.TypeUserAnnounce, wire.TypeUserLocate, wire.TypeUserLocation:
		return true
	}
	return false
}

// msgCollector exports the message Machine's counters at scrape time.
type msgCollector struct {
	counters func() message.Counters
	items    *prometheus.Desc
}

func newMsgCollector(counters func() message.Counters) *msgCollector {
	return &msgCollector{
		counters: counters,
		items: prometheus.NewDesc("yui_user_messages_total",
			"Message items by event: received for a local user, held for another node's user, released, pushed to a recipient's node, rejected past the quota, rejected as forged.",
			[]string{"event"}, nil),
	}
}

func (c *msgCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.items }

func (c *msgCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.counters()
	for _, v := range []struct {
		event string
		count uint64
	}{
		{"received", s.Received}, {"held", s.Held}, {"released", s.Released},
		{"pushed", s.Pushed}, {"full", s.Full}, {"forged", s.Forged},
	} {
		ch <- prometheus.MustNewConstMetric(c.items, prometheus.CounterValue, float64(v.count), v.event)
	}
}
