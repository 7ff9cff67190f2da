package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// startAlerts loads the authorities and saved alerts and starts flooding
// alerts over the overlay, and over LAN broadcast unless discovery is off.
func (n *Node) startAlerts() error {
	s, err := newAlertService(n.log, n.tr, n.cfg.DataDir, n.overlayContacts)
	if err != nil {
		return err
	}
	if n.cfg.DiscoveryPort > 0 {
		lan, err := startAlertLAN(n.log, n.cfg.DiscoveryPort+alertPortOffset, s)
		if err != nil {
			// Alerts still travel over QUIC; the broadcast path only
			// adds reach.
			n.log.Warn("alert broadcast unavailable, alerts use the overlay alone", "err", err)
		} else {
			s.lan = lan
			s.broadcast = lan.broadcast
		}
	}
	n.metrics.registry.MustRegister(newAlertCollector(s.counters))
	s.start()
	n.alerts.Store(s)
	return nil
}

func (n *Node) closeAlerts() {
	if s := n.alerts.Load(); s != nil {
		s.close()
	}
}

// overlayContacts returns the routing table's contacts and the LAN
// group's members.
func (n *Node) overlayContacts() []wire.Contact {
	var contacts []wire.Contact
	n.router.withOverlay(func(m *hierarchy.Machine) {
		for _, p := range m.Peers() {
			contacts = append(contacts, p.Contact)
		}
	})
	return contacts
}

// handleAlert serves an alert message from a peer. Alert messages are
// one-way. One sent as a request is still served, and its response is an
// error.
func (n *Node) handleAlert(from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	if s := n.alerts.Load(); s != nil {
		s.handle(from, msg)
	}
	if isRequest {
		return &wire.Error{Code: wire.CodeBadRequest, Message: "alert messages are one-way: send them without a request ID"}
	}
	return nil
}

// alertFound hands the alert flood a peer that LAN discovery just found.
func (n *Node) alertFound(c wire.Contact) {
	if s := n.alerts.Load(); s != nil {
		s.meet(c)
	}
}

func isAlertType(t wire.Type) bool {
	return t == wire.TypeAlertPush || t == wire.TypeAlertSummary
}

// alertCollector exports the alert Machine's counters at scrape time.
type alertCollector struct {
	counters func() alert.Counters

	received, accepted, duplicate, rejected, dropped, held *prometheus.Desc
}

func newAlertCollector(counters func() alert.Counters) *alertCollector {
	return &alertCollector{
		counters: counters,
		received: prometheus.NewDesc("yui_alerts_received_total",
			"Alerts received from peers, duplicates included.", nil, nil),
		accepted: prometheus.NewDesc("yui_alerts_accepted_total",
			"New valid alerts, sent from this node or received.", nil, nil),
		duplicate: prometheus.NewDesc("yui_alerts_duplicate_total",
			"Received alerts that the node already held.", nil, nil),
		rejected: prometheus.NewDesc("yui_alerts_rejected_total",
			"Received alerts rejected, by reason.", []string{"reason"}, nil),
		dropped: prometheus.NewDesc("yui_alerts_dropped_total",
			"Held alerts dropped, by cause: expired, or evicted to stay under the limit per authority.", []string{"cause"}, nil),
		held: prometheus.NewDesc("yui_alerts_held",
			"Alerts the node holds now.", nil, nil),
	}
}

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.accepted, c.duplicate, c.rejected, c.dropped, c.held} {
		ch <- d
	}
}

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.counters()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.received, s.Received)
	counter(c.accepted, s.Accepted)
	counter(c.duplicate, s.Duplicate)
	for _, r := range alert.Reasons {
		counter(c.rejected, s.Rejected[r], r.String())
	}
	counter(c.dropped, s.Expired, "expired")
	counter(c.dropped, s.Evicted, "evicted")
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.Held))
}
