package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/yuinet/yui/network/kademlia"
)

// metrics holds the node's Prometheus collectors. Counters that the
// transport and discovery keep themselves are read at scrape time by the
// statsCollector, so the hot paths touch no Prometheus code.
type metrics struct {
	registry *prometheus.Registry
	lookups  *prometheus.HistogramVec
	hops     prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		lookups: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "yui_lookup_duration_seconds",
			Help:    "Duration of overlay lookups, by outcome (ok: at least one node found).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"result"}),
		hops: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "yui_lookup_hops",
			Help:    "Referral chain length of finished lookups.",
			Buckets: prometheus.LinearBuckets(1, 1, 10),
		}),
	}
	m.registry.MustRegister(
		m.lookups, m.hops,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) observeLookup(res *kademlia.LookupResult) {
	result := "ok"
	if len(res.Closest) == 0 {
		result = "empty"
	}
	m.lookups.WithLabelValues(result).Observe(res.Finished.Sub(res.Started).Seconds())
	m.hops.Observe(float64(res.Hops))
}

// gaugeFunc registers a gauge whose value f computes at scrape time.
func (m *metrics) gaugeFunc(name, help string, f func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}
