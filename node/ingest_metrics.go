package node

import "github.com/prometheus/client_golang/prometheus"

// ingestCounters count the readings that reach the node by ingest path
// ("http" or "mqtt") and outcome: "stored", "rejected" (invalid, never to
// be stored) or "failed" (the sink failed, so the sender may resend).
type ingestCounters struct {
	readings *prometheus.CounterVec
}

func newIngestCounters(reg prometheus.Registerer) *ingestCounters {
	c := &ingestCounters{readings: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yui_ingest_readings_total",
		Help: "Sensor readings received, by ingest path (http, mqtt) and outcome (stored, rejected, failed).",
	}, []string{"path", "result"})}
	reg.MustRegister(c.readings)
	return c
}

func (c *ingestCounters) add(path, result string, n int) {
	if n > 0 {
		c.readings.WithLabelValues(path, result).Add(float64(n))
	}
}
