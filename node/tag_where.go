package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// Defaults of a location request.
const (
	// tagSearchDefault is how far back a request without since= looks.
	tagSearchDefault = time.Hour
)

// serveTagLocation locates one tag for its guardian. It reads the tag's
// secret as the requesting user, which fails for anyone the owner did not
// share the tag with. Then it lists the network's sightings and relay
// positions as the node's default user, who stores them. Sightings carry
// only rotating identifiers, so reading them reveals nothing without the
// secret.
func (n *Node) serveTagLocation(w http.ResponseWriter, r *http.Request) {
	user, network, ok := n.tagCall(w, r)
	if !ok {
		return
	}
	owner, name := r.PathValue("owner"), r.PathValue("name")
	q, rule, err := parseTagQuery(r.URL.Query())
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	ctx := r.Context()
	secret, err := n.readTagSecret(ctx, user, owner, name)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}

	now := time.Now()
	since := n.searchStart(now, now.Add(-q.Since))
	resolver := tag.NewResolver(map[string]tag.Secret{name: secret}, since, now)
	infos, err := n.networkRecords(ctx, network)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	sightings := n.tagSightings(network, infos, resolver, since)
	relays := n.relayPositions(network, infos)
	loc := &tag.Locator{Model: tag.ULBModel, Range: tag.DefaultRange, Speed: tag.WalkingSpeed, Relays: relays}
	writeJSON(w, http.StatusOK, tagLocation(loc, name, owner, network, sightings, since, now, q.History, rule))
}

// tagLocation builds the response from a tag's sightings.
func tagLocation(loc *tag.Locator, name, owner, network string, sightings []tag.Sighting,
	since, now time.Time, history bool, rule tag.Rule) api.TagLocation {
	res := api.TagLocation{Tag: name, Owner: owner, Network: network, Sightings: len(sightings), Since: since.UTC()}
	if len(sightings) > 0 {
		res.LastSeen = sightings[len(sightings)-1].Time
	}
	track := loc.Track(sightings)
	if len(track) > 0 {
		res.Latest = &track[0]
	}
	if history {
		res.History = track
	}
	if rule.Area != nil || rule.Silence > 0 {
		res.Alerts = tag.Watch(name, rule, track, now)
	}
	return res
}

// parseTagQuery reads since=, history=, area= and silence=.
func parseTagQuery(v url.Values) (api.TagQuery, tag.Rule, error) {
	q := api.TagQuery{Since: tagSearchDefault, History: v.Get("history") == "true"}
	var rule tag.Rule
	if s := v.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > tag.MaxAge {
			return q, rule, fmt.Errorf("%w: since=%q: want a duration up to %v, such as 30m or 24h", api.ErrInvalid, s, tag.MaxAge)
		}
		q.Since = d
	}
	if s := v.Get("silence"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return q, rule, fmt.Errorf("%w: silence=%q: want a positive duration such as 15m", api.ErrInvalid, s)
		}
		rule.Silence = d
	}
	if s := v.Get("area"); s != "" {
		area, err := tag.ParseArea(s)
		if err != nil {
			return q, rule, fmt.Errorf("%w: %v", api.ErrInvalid, err)
		}
		rule.Area = area
	}
	return q, rule, nil
}

// networkRecords lists every record of a relay network's namespace as
// the node's default user. A network with no reports yet has no
// namespace, which is not an error.
func (n *Node) networkRecords(ctx context.Context, network string) ([]store.RecordInfo, error) {
	infos, err := n.storage.store.List(ctx, api.DefaultUser, api.SightingsNamespace(network), "")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sightings of network %q: %w", network, err)
	}
	return infos, nil
}

// tagSightings returns the sightings of the resolver's tag since since,
// oldest first.
func (n *Node) tagSightings(network string, infos []store.RecordInfo, resolver *tag.Resolver, since time.Time) []tag.Sighting {
	var out []tag.Sighting
	for _, info := range infos {
		if !strings.HasPrefix(info.Key, sightingPrefix) {
			continue
		}
		id, err := tag.ParseID(idOfKey(info.Key))
		if err != nil {
			n.log.Warn("skipping sighting record", "network", network, "key", info.Key, "err", err)
			continue
		}
		if _, ok := resolver.Name(id); !ok {
			continue
		}
		got, err := parseSightingKey(info.Key)
		if err != nil {
			n.log.Warn("skipping sighting record", "network", network, "err", err)
			continue
		}
		for _, s := range got {
			if !s.Time.Before(since) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b tag.Sighting) int { return a.Time.Compare(b.Time) })
	return out
}

// idOfKey returns the identifier part of a sighting key, so that records
// of other tags are skipped without parsing the rest.
func idOfKey(key string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(key, sightingPrefix), "/")
	return id
}

// relayPositions returns every relay's newest position. A relay that
// never sent its position is left out, and so are its sightings when a
// tag is located.
func (n *Node) relayPositions(network string, infos []store.RecordInfo) map[string]tag.Point {
	relays := map[string]tag.Point{}
	versions := map[string]uint64{}
	for _, info := range infos {
		if !strings.HasPrefix(info.Key, relayPrefix) {
			continue
		}
		id, p, err := parseRelayKey(info.Key)
		if err != nil {
			n.log.Warn("skipping relay record", "network", network, "err", err)
			continue
		}
		if info.Version >= versions[id] {
			relays[id], versions[id] = p, info.Version
		}
	}
	return relays
}
