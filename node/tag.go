package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// Sightings are stored one record per sighting under a key that carries
// the whole sighting, so that a guardian finds its tags' sightings with
// one listing of the namespace and no reads of values:
//
//	s/<rotating id>/<unix ms, 13 digits>/<relay>/<RSSI dBm>
//
// A relay's position is the record relay/<relay id>, JSON of tag.Point.
// Keys are encrypted like any other, so holders learn none of this.
const (
	sightingPrefix = "s/"
	relayPrefix    = "relay/"
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

// serveSightings stores a relay's report with one batch write.
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
	records, err := reportRecords(rep)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	if _, err := n.storage.store.PutBatch(r.Context(), user, api.SightingsNamespace(network), records); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	stored := len(records)
	if rep.Position != nil {
		stored--
	}
	writeJSON(w, http.StatusOK, api.SightingsResult{Stored: stored, Network: network})
}

// reportRecords turns a report into batch records: one per distinct
// sighting, and the relay's position if the report has one. A sighting
// sent twice is stored once.
func reportRecords(rep *tag.Report) ([]store.BatchRecord, error) {
	seen := make(map[string]bool, len(rep.Sightings))
	records := make([]store.BatchRecord, 0, len(rep.Sightings)+1)
	for _, s := range rep.Sightings {
		key := sightingKey(s)
		if seen[key] {
			continue
		}
		seen[key] = true
		value, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("node: encode sighting: %w", err)
		}
		records = append(records, store.BatchRecord{Key: key, Value: value, ContentType: "application/json"})
	}
	if rep.Position != nil {
		value, _ := json.Marshal(rep.Position)
		records = append(records, store.BatchRecord{Key: relayPrefix + rep.Relay, Value: value, ContentType: "application/json"})
	}
	return records, nil
}

func sightingKey(s tag.Sighting) string {
	return fmt.Sprintf("%s%s/%013d/%s/%s", sightingPrefix, s.ID, s.Time.UnixMilli(), s.Relay,
		strconv.FormatFloat(s.RSSI, 'g', -1, 64))
}

// errBadKey reports a key under sightingPrefix that does not parse.
var errBadKey = errors.New("node: malformed sighting key")

// parseSightingKey reads a sighting back from its key.
func parseSightingKey(key string) (tag.Sighting, error) {
	parts := strings.Split(strings.TrimPrefix(key, sightingPrefix), "/")
	if len(parts) != 4 {
		return tag.Sighting{}, fmt.Errorf("%w: %q", errBadKey, key)
	}
	id, err := tag.ParseID(parts[0])
	if err != nil {
		return tag.Sighting{}, fmt.Errorf("%w: %q: %v", errBadKey, key, err)
	}
	ms, err1 := strconv.ParseInt(parts[1], 10, 64)
	rssi, err2 := strconv.ParseFloat(parts[3], 64)
	if err1 != nil || err2 != nil {
		return tag.Sighting{}, fmt.Errorf("%w: %q", errBadKey, key)
	}
	return tag.Sighting{ID: id, Relay: parts[2], RSSI: rssi, Time: time.UnixMilli(ms).UTC()}, nil
}

// readTagSecret reads a tag's secret as user: the step that keeps anyone
// but the tag's owner and the users it shared the tag with from
// locating it.
func (n *Node) readTagSecret(ctx context.Context, user, owner, name string) (tag.Secret, error) {
	var buf bytes.Buffer
	if _, err := n.storage.store.Get(ctx, user, api.TagNamespace(owner), name, &buf, store.GetOptions{}); err != nil {
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
