package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// Sightings are stored one record per tag identifier, relay and report,
// under a key that carries every sighting of the record, so that a
// guardian finds its tags' sightings with one listing of the namespace
// and no reads of values:
//
//	s/<rotating id>/<unix ms of the first>/<relay>/<Δms>:<RSSI>,<Δms>:<RSSI>…
//
// where each Δms counts from the first sighting's time. A gateway that
// reports once a minute hears a tag beaconing every 5 s twelve times, so
// the store writes one record where it would otherwise write twelve: the
// cost of a write is per record, not per byte. The value holds the same
// sightings as JSON. A relay's position is the record
// relay/<relay id>/<x>/<y>, so that the same listing returns every relay's
// position; when a relay moves, its newest record counts. Keys are
// encrypted like any other, so holders learn none of this.
const (
	sightingPrefix = "s/"
	relayPrefix    = "relay/"
	// maxSightingsPerRecord keeps a key well within the store's 1024
	// bytes: each sighting takes at most about 20 of them.
	maxSightingsPerRecord = 40
)

// tagRoutes adds the tag endpoints to mux.
func (n *Node) tagRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathSightings, n.serveSightings)
	mux.HandleFunc("GET "+api.PathTags+"{owner}/{name}", n.serveTagLocation)
}

// tagCall reads the user and relay network of a tag request. On failure
// it writes the error response and returns false.
func (n *Node) tagCall(w http.ResponseWriter, r *http.Request) (user, network string, ok bool) {
	user = r.Header.Get(api.HeaderUser)
	if user == "" {
		user = api.DefaultUser
	}
	if err := api.ValidateUserName(user); err != nil {
		n.writeStoreError(w, r, fmt.Errorf("header %s: %w", api.HeaderUser, err))
		return "", "", false
	}
	network = r.URL.Query().Get("network")
	if network == "" {
		network = api.DefaultTagNetwork
	}
	if err := seal.ValidateNamespace(api.SightingsNamespace(network)); err != nil {
		n.writeStoreError(w, r, fmt.Errorf("%w: relay network %q: %v", api.ErrInvalid, network, err))
		return "", "", false
	}
	return user, network, true
}

// serveSightings stores a relay's report.
func (n *Node) serveSightings(w http.ResponseWriter, r *http.Request) {
	user, network, ok := n.tagCall(w, r)
	if !ok {
		return
	}
	rep, err := tag.DecodeReport(r.Body, time.Now())
	if err != nil {
		n.writeStoreError(w, r, fmt.Errorf("%w: %v", api.ErrInvalid, err))
		return
	}
	res, err := n.storeReport(r.Context(), user, network, rep)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// storeReport stores a checked report in the relay network's namespace as
// user, with one batch write. Every ingest path of sightings ends here.
func (n *Node) storeReport(ctx context.Context, user, network string, rep *tag.Report) (api.SightingsResult, error) {
	records, err := reportRecords(rep)
	if err != nil {
		return api.SightingsResult{}, err
	}
	if _, err := n.storage.store.PutBatch(ctx, user, api.SightingsNamespace(network), records); err != nil {
		return api.SightingsResult{}, fmt.Errorf("store report of relay %s: %w", rep.Relay, err)
	}
	// The sweep deletes as the default user, so it covers only the
	// networks that user writes to.
	if user == api.DefaultUser {
		n.sightingNets.add(network)
	}
	stored := 0
	for _, rec := range records {
		if strings.HasPrefix(rec.Key, sightingPrefix) {
			stored += strings.Count(rec.Key, ",") + 1
		}
	}
	n.log.Debug("stored sightings", "relay", rep.Relay, "network", network, "sightings", stored, "records", len(records))
	return api.SightingsResult{Stored: stored, Records: len(records), Network: network}, nil
}

// reportRecords turns a report into batch records: one per tag
// identifier and relay, split after maxSightingsPerRecord sightings, and
// the relay's position if the report has one. A sighting sent twice is
// stored once.
func reportRecords(rep *tag.Report) ([]store.BatchRecord, error) {
	groups := groupSightings(rep.Sightings)
	records := make([]store.BatchRecord, 0, len(groups)+1)
	for _, g := range groups {
		for len(g) > 0 {
			n := min(len(g), maxSightingsPerRecord)
			value, err := json.Marshal(g[:n])
			if err != nil {
				return nil, fmt.Errorf("node: encode sightings: %w", err)
			}
			records = append(records, store.BatchRecord{Key: sightingKey(g[:n]), Value: value, ContentType: "application/json"})
			g = g[n:]
		}
	}
	if rep.Position != nil {
		value, _ := json.Marshal(rep.Position)
		records = append(records, store.BatchRecord{Key: relayKey(rep.Relay, *rep.Position), Value: value, ContentType: "application/json"})
	}
	return records, nil
}

// groupSightings returns the distinct sightings grouped by identifier and
// relay, each group sorted by time, groups in a fixed order.
func groupSightings(sightings []tag.Sighting) [][]tag.Sighting {
	type groupKey struct {
		id    tag.ID
		relay string
	}
	seen := make(map[tag.Sighting]bool, len(sightings))
	index := map[groupKey]int{}
	var groups [][]tag.Sighting
	for _, s := range sightings {
		s.Time = s.Time.Truncate(time.Millisecond)
		if seen[s] {
			continue
		}
		seen[s] = true
		k := groupKey{s.ID, s.Relay}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	}
	for _, g := range groups {
		slices.SortFunc(g, func(a, b tag.Sighting) int { return a.Time.Compare(b.Time) })
	}
	return groups
}

// sightingKey returns the key of a record of sightings, all of one
// identifier and relay, sorted by time.
func sightingKey(g []tag.Sighting) string {
	var b strings.Builder
	first := g[0].Time.UnixMilli()
	fmt.Fprintf(&b, "%s%s/%013d/%s/", sightingPrefix, g[0].ID, first, g[0].Relay)
	for i, s := range g {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(s.Time.UnixMilli()-first, 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(s.RSSI, 'g', -1, 64))
	}
	return b.String()
}

func relayKey(relay string, p tag.Point) string {
	return fmt.Sprintf("%s%s/%s/%s", relayPrefix, relay, strconv.FormatFloat(p.X, 'g', -1, 64), strconv.FormatFloat(p.Y, 'g', -1, 64))
}

// parseRelayKey reads a relay's id and position back from its key.
func parseRelayKey(key string) (string, tag.Point, error) {
	parts := strings.Split(strings.TrimPrefix(key, relayPrefix), "/")
	if len(parts) != 3 {
		return "", tag.Point{}, fmt.Errorf("%w: %q", errBadKey, key)
	}
	x, err1 := strconv.ParseFloat(parts[1], 64)
	y, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil {
		return "", tag.Point{}, fmt.Errorf("%w: %q", errBadKey, key)
	}
	return parts[0], tag.Point{X: x, Y: y}, nil
}

// errBadKey reports a key under sightingPrefix or relayPrefix that does
// not parse.
var errBadKey = errors.New("node: malformed sighting key")

// parseSightingKey reads the sightings of a record back from its key.
func parseSightingKey(key string) ([]tag.Sighting, error) {
	parts := strings.Split(strings.TrimPrefix(key, sightingPrefix), "/")
	if len(parts) != 4 {
		return nil, fmt.Errorf("%w: %q", errBadKey, key)
	}
	id, err := tag.ParseID(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", errBadKey, key, err)
	}
	first, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", errBadKey, key)
	}
	var out []tag.Sighting
	for _, item := range strings.Split(parts[3], ",") {
		ms, rssi, ok := strings.Cut(item, ":")
		delta, err1 := strconv.ParseInt(ms, 10, 64)
		value, err2 := strconv.ParseFloat(rssi, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: %q: sighting %q", errBadKey, key, item)
		}
		out = append(out, tag.Sighting{ID: id, Relay: parts[2], RSSI: value, Time: time.UnixMilli(first + delta).UTC()})
	}
	return out, nil
}

// tagNamespace returns the namespace of owner's tags. owner is a user of
// this node, or the fingerprint of a user's keys, which names an owner on
// another node. A local user of that name comes first.
func (n *Node) tagNamespace(owner string) (string, error) {
	pu, err := n.storage.store.PublicUser(owner)
	switch {
	case err == nil:
		return api.TagNamespace(api.KeyFingerprint(pu.Keys)), nil
	case errors.Is(err, store.ErrUnknownUser) && api.IsFingerprint(owner):
		return api.TagNamespace(owner), nil
	case errors.Is(err, store.ErrUnknownUser):
		return "", fmt.Errorf("%w: tag owner %q is not a user of this node; name an owner on another node by the fingerprint from 'yui user show' there",
			store.ErrNotFound, owner)
	}
	return "", err
}

// readTagSecret reads a tag's secret as user: the step that keeps anyone
// but the tag's owner and the users it shared the tag with from
// locating it.
func (n *Node) readTagSecret(ctx context.Context, user, owner, name string) (tag.Secret, error) {
	ns, err := n.tagNamespace(owner)
	if err != nil {
		return tag.Secret{}, err
	}
	var buf bytes.Buffer
	if _, err := n.storage.store.Get(ctx, user, ns, name, &buf, store.GetOptions{}); err != nil {
		return tag.Secret{}, fmt.Errorf("tag %s of %s: %w", name, owner, err)
	}
	var rec api.TagSecret
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		return tag.Secret{}, fmt.Errorf("%w: record of tag %s of %s is not a tag secret: %v", store.ErrCorrupt, name, owner, err)
	}
	secret, err := tag.ParseSecret(rec.Secret)
	if err != nil {
		return tag.Secret{}, fmt.Errorf("%w: record of tag %s of %s: %v", store.ErrCorrupt, name, owner, err)
	}
	return secret, nil
}
