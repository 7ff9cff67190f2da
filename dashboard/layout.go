package dashboard

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sort"

	"github.com/yuinet/yui/tag"
)

// LayoutRadius is the radius, in diagram units, of the ring the layout
// places peers on around the node at the origin.
const LayoutRadius = 100

// Layout places peers on a ring around the origin, where the node itself
// sits. A peer's place depends on its ID and on the set of IDs only, so a
// page that reloads draws the same picture, and a new peer moves the
// others only to make room. IDs are sorted by a hash of themselves, which
// spreads close IDs around the ring.
func Layout(ids []string) map[string]tag.Point {
	type entry struct {
		id   string
		hash uint64
	}
	entries := make([]entry, len(ids))
	for i, id := range ids {
		sum := sha256.Sum256([]byte(id))
		entries[i] = entry{id, binary.BigEndian.Uint64(sum[:8])}
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].hash != entries[j].hash {
			return entries[i].hash < entries[j].hash
		}
		return entries[i].id < entries[j].id
	})

	out := make(map[string]tag.Point, len(ids))
	for i, e := range entries {
		angle := 2*math.Pi*float64(i)/float64(len(entries)) - math.Pi/2
		out[e.id] = tag.Point{
			X: round(LayoutRadius * math.Cos(angle)),
			Y: round(LayoutRadius * math.Sin(angle)),
		}
	}
	return out
}

// round keeps two decimals, so that the JSON of a layout is stable across
// platforms whose last float bits might differ.
func round(v float64) float64 { return math.Round(v*100) / 100 }
