package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yuinet/yui/network/discovery"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/quicnet"
	"github.com/yuinet/yui/network/wire"
)

// statsCollector exports the counters that the transport and discovery
// keep, reading them at scrape time.
type statsCollector struct {
	transport func() quicnet.Stats
	discovery func() (discovery.Stats, bool)

	messages, bytes, dropped, conns, handshake, mismatch, badPeers *prometheus.Desc
	evicted, silent, buffered                                      *prometheus.Desc
	beacons, beaconsRejected                                       *prometheus.Desc
}

func newStatsCollector(tr func() quicnet.Stats, disc func() (discovery.Stats, bool)) *statsCollector {
	return &statsCollector{
		transport: tr,
		discovery: disc,
		messages: prometheus.NewDesc("yui_messages_total",
			"Valid overlay messages by direction (in, out) and type.", []string{"direction", "type"}, nil),
		bytes: prometheus.NewDesc("yui_message_bytes_total",
			"Bytes of valid overlay messages, frame headers included, by direction and type.", []string{"direction", "type"}, nil),
		dropped: prometheus.NewDesc("yui_messages_dropped_total",
			"Received messages dropped as invalid, oversized, truncated or late, by reason.", []string{"reason"}, nil),
		conns: prometheus.NewDesc("yui_connections",
			"Open QUIC connections.", nil, nil),
		handshake: prometheus.NewDesc("yui_handshake_failures_total",
			"QUIC handshakes that failed, including rejected certificates.", nil, nil),
		mismatch: prometheus.NewDesc("yui_peer_id_mismatches_total",
			"Dials that reached a node with another ID than expected.", nil, nil),
		evicted: prometheus.NewDesc("yui_connections_evicted_total",
			"Idle connections closed to make room for new ones past a per-peer, per-address or total limit.", nil, nil),
		silent: prometheus.NewDesc("yui_connections_silent_total",
			"Connections closed because a request on them timed out and no packet came from the peer meanwhile.", nil, nil),
		buffered: prometheus.NewDesc("yui_frame_bytes_buffered",
			"Bytes reserved for incoming message bodies being read.", nil, nil),
		badPeers: prometheus.NewDesc("yui_bad_peers_total",
			"Connections closed because the peer sent too many invalid messages.", nil, nil),
		beacons: prometheus.NewDesc("yui_beacons_total",
			"LAN beacons by outcome: sent, received, accepted, own, other-network, duplicate, rate-limited, clone (this node's ID sent by another device), new-peer-dropped (over the new-peer rate).", []string{"outcome"}, nil),
		beaconsRejected: prometheus.NewDesc("yui_beacons_rejected_total",
			"LAN beacons dropped, by reason.", []string{"reason"}, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.bytes, c.dropped, c.conns, c.handshake,
		c.mismatch, c.badPeers, c.evicted, c.silent, c.buffered, c.beacons, c.beaconsRejected} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectTransport(ch)
	if s, ok := c.discovery(); ok {
		c.collectDiscovery(ch, s)
	}
}

func (c *statsCollector) collectTransport(ch chan<- prometheus.Metric) {
	s := c.transport()
	for dir, traffic := range map[string]map[wire.Type]quicnet.Traffic{"in": s.In, "out": s.Out} {
		for typ, t := range traffic {
			ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(t.Messages), dir, typ.String())
			ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.Bytes), dir, typ.String())
		}
	}
	for reason, n := range s.Dropped {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), string(reason))
	}
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Conns))
	ch <- prometheus.MustNewConstMetric(c.handshake, prometheus.CounterValue, float64(s.HandshakeFailures))
	ch <- prometheus.MustNewConstMetric(c.mismatch, prometheus.CounterValue, float64(s.PeerMismatches))
	ch <- prometheus.MustNewConstMetric(c.badPeers, prometheus.CounterValue, float64(s.BadPeers))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(s.EvictedConns))
	ch <- prometheus.MustNewConstMetric(c.silent, prometheus.CounterValue, float64(s.SilentConns))
	ch <- prometheus.MustNewConstMetric(c.buffered, prometheus.GaugeValue, float64(s.Buffered))
}

func (c *statsCollector) collectDiscovery(ch chan<- prometheus.Metric, s discovery.Stats) {
	for outcome, n := range map[string]uint64{
		"sent": s.Sent, "received": s.Received, "accepted": s.Accepted, "own": s.Own,
		"other-network": s.OtherNetwork, "duplicate": s.Duplicate, "rate-limited": s.RateLimited,
		"clone": s.Clones, "new-peer-dropped": s.NewPeersDropped,
	} {
		ch <- prometheus.MustNewConstMetric(c.beacons, prometheus.CounterValue, float64(n), outcome)
	}
	r := s.Rejected
	for reason, n := range map[string]uint64{
		"too-large": r.TooLarge, "malformed": r.Malformed, "version": r.Version, "invalid": r.Invalid,
		"id-mismatch": r.IDMismatch, "bad-signature": r.BadSignature, "timestamp": r.Timestamp,
	} {
		ch <- prometheus.MustNewConstMetric(c.beaconsRejected, prometheus.CounterValue, float64(n), reason)
	}
}

// registerMetrics exports the node's gauges and the transport's and
// discovery's counters.
func (n *Node) registerMetrics() {
	n.metrics.gaugeFunc("yui_peers", "Contacts the node keeps: its routing table and its LAN group.", func() float64 {
		var count int
		n.router.withOverlay(func(m *hierarchy.Machine) { count = m.Len() })
		return float64(count)
	})
	n.metrics.gaugeFunc("yui_representative", "1 while the node represents its LAN group in the DHT, else 0.", func() float64 {
		var rep bool
		n.router.withOverlay(func(m *hierarchy.Machine) { rep = m.IsRepresentative() })
		if rep {
			return 1
		}
		return 0
	})
	n.metrics.gaugeFunc("yui_uptime_seconds", "Seconds since the node started.", func() float64 {
		return time.Since(n.started).Seconds()
	})
	qt := n.tr.(*quicnet.Transport)
	disc := func() (discovery.Stats, bool) {
		if d, ok := n.disc.(lanDiscovery); ok {
			return d.Stats(), true
		}
		return discovery.Stats{}, false
	}
	n.metrics.registry.MustRegister(newStatsCollector(qt.Stats, disc))
}
