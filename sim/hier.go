package sim

import (
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/wire"
)

// hierMember adapts a hierarchy.Machine in Hierarchical mode to Member.
// It satisfies Member as it is. The adapter adds InDHT, because only the
// representatives take part in the global DHT, so a lookup returns only
// them.
type hierMember struct{ *hierarchy.Machine }

func newHierMember(self wire.Contact, cfg *Config, traits Traits, seed uint64, now time.Time) Member {
	score := hierarchy.Score{Capacity: traits.Capacity, Link: traits.Link}
	hcfg := hierarchy.Config{Mode: hierarchy.Hierarchical, Kademlia: cfg.Kademlia, Reps: cfg.Reps}
	return hierMember{hierarchy.New(self, score, hcfg, seed, now)}
}

// InDHT reports whether the node represents its group in the DHT.
func (h hierMember) InDHT() bool { return h.IsRepresentative() }

// Joined reports whether the node represents its group and its join of
// the DHT has ended.
func (h hierMember) Joined() bool { return h.JoinedDHT() }
