package tag

import (
	"slices"
	"time"
)

// Resolver maps rotating identifiers to the tags of one guardian. It
// holds every identifier of its tags for a range of windows, widened by
// ClockSkew at both ends.
type Resolver struct {
	ids map[ID]string
}

// NewResolver computes the identifiers of secrets, by tag name, for every
// window from the one holding from to the one holding to.
func NewResolver(secrets map[string]Secret, from, to time.Time) *Resolver {
	first, last := Window(from)-ClockSkew, Window(to)+ClockSkew
	r := &Resolver{ids: make(map[ID]string, len(secrets)*int(last-first+1))}
	for name, secret := range secrets {
		for w := first; w <= last; w++ {
			r.ids[RotatingID(secret, w)] = name
		}
	}
	return r
}

// Name returns the tag that broadcast id, if it is one of the resolver's.
func (r *Resolver) Name(id ID) (string, bool) {
	name, ok := r.ids[id]
	return name, ok
}

// Resolve returns the sightings of the resolver's tags by tag name, each
// tag's sorted by time. Sightings of other tags are dropped.
//
// A sighting's window is not checked against its identifier's window: a
// relay's clock or the tag's may be off by more than ClockSkew, and the
// identifier alone already names the tag.
func (r *Resolver) Resolve(sightings []Sighting) map[string][]Sighting {
	out := map[string][]Sighting{}
	for _, s := range sightings {
		if name, ok := r.ids[s.ID]; ok {
			out[name] = append(out[name], s)
		}
	}
	for _, ss := range out {
		slices.SortFunc(ss, func(a, b Sighting) int { return a.Time.Compare(b.Time) })
	}
	return out
}
