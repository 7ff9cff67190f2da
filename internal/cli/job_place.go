package cli

import (
	"fmt"

	"github.com/yuinet/yui/api"
)

// localityLine describes where a job's input was read, or returns ""
// before any committed unit reported its bytes.
func localityLine(l *api.JobLocality) string {
	if l == nil {
		return ""
	}
	total := l.Cluster + l.Remote + l.Unknown
	percent := func(n uint64) float64 { return 100 * float64(n) / float64(total) }
	return fmt.Sprintf("input: %d bytes; read in the data's own area (0.5° cell): %.1f%%, in another area: %.1f%%, area unknown: %.1f%%; read on a node storing them: %.1f%%",
		total, 100*l.InClusterShare, percent(l.Remote), percent(l.Unknown), percent(l.Held))
}

// computeLine describes a node's compute tier and speed.
func computeLine(s *api.Status) string {
	if s.ComputeRate == 0 {
		return s.ComputeTier + " (not measured yet)"
	}
	return fmt.Sprintf("%s (%.0f readings/s)", s.ComputeTier, s.ComputeRate)
}
