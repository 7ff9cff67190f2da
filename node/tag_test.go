package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/tag"
)

// simulatedReports walks one tag with secret through a 3×3 town for two
// minutes ending now and returns one report per relay with its position,
// and the tag's true last position.
func simulatedReports(t *testing.T, secret tag.Secret) ([]*tag.Report, tag.Point) {
	t.Helper()
	relays := tag.Town(3, 3, 30, 7)
	sim := &tag.Simulation{Model: tag.ULBModel, Range: tag.DefaultRange, Relays: relays,
		Beacon: 5 * time.Second, Speed: tag.WalkingSpeed, Seed: 7}
	tags := tag.NewSimTags("amy", 1, 6, relays, rand.New(rand.NewPCG(7, 7)))
	tags[0].Secret = secret

	byRelay := map[string]*tag.Report{}
	var last tag.Point
	start := time.Now().Add(-2 * time.Minute)
	err := sim.Run(tags, start, 2*time.Minute, func(s tag.SimSighting) error {
		rep := byRelay[s.Relay]
		if rep == nil {
			p := relays[s.Relay]
			rep = &tag.Report{Relay: s.Relay, Position: &p}
			byRelay[s.Relay] = rep
		}
		rep.Sightings = append(rep.Sightings, s.Sighting)
		last = s.Truth
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var reps []*tag.Report
	for _, rep := range byRelay {
		reps = append(reps, rep)
	}
	return reps, last
}

// userFingerprint returns the fingerprint of the keys of the node's user
// name.
func userFingerprint(t *testing.T, c *api.Client, name string) string {
	t.Helper()
	users, err := c.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name == name {
			return u.Fingerprint
		}
	}
	t.Fatalf("user %s not found", name)
	return ""
}

func addTag(t *testing.T, c *api.Client, owner, name string, secret tag.Secret) {
	t.Helper()
	value, _ := json.Marshal(api.TagSecret{Secret: secret.String(), Created: time.Now().UTC()})
	ns := api.TagNamespace(userFingerprint(t, c, owner))
	_, err := c.PutRecord(context.Background(), owner, ns, name, bytes.NewReader(value), int64(len(value)), "application/json")
	if err != nil {
		t.Fatalf("store tag %s of %s: %v", name, owner, err)
	}
}

func TestTagLocateAndAuthorise(t *testing.T) {
	_, clients := startTrio(t)
	c := clients[0]
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := c.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	secret := tag.NewSecret()
	addTag(t, c, "alice", "amy", secret)

	reps, truth := simulatedReports(t, secret)
	posted := 0
	for _, rep := range reps {
		res, err := c.PostSightings(ctx, "", "", rep)
		if err != nil {
			t.Fatalf("post report of %s: %v", rep.Relay, err)
		}
		posted += res.Stored
	}

	loc, err := c.TagLocation(ctx, "alice", "alice", "amy", api.TagQuery{History: true})
	if err != nil {
		t.Fatal(err)
	}
	if loc.Sightings != posted || loc.Latest == nil || len(loc.History) == 0 {
		t.Fatalf("alice sees %d sightings of %d, latest %v, %d fixes", loc.Sightings, posted, loc.Latest, len(loc.History))
	}
	if d := loc.Latest.Position.Dist(truth); d > 3*loc.Latest.Radius {
		t.Errorf("latest estimate %v is %.1f m from the truth %v, radius %.1f m", loc.Latest.Position, d, truth, loc.Latest.Radius)
	}

	// Bob has no right to the secret, so the node refuses him.
	_, err = c.TagLocation(ctx, "bob", "alice", "amy", api.TagQuery{})
	if !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("bob locating alice's tag: %v, want ErrForbidden", err)
	}

	// Carol can once alice shares the tag with her.
	users, _ := c.Users(ctx)
	var carol api.User
	for _, u := range users {
		if u.Name == "carol" {
			carol = u
		}
	}
	grant := api.Grant{KeyOrPrefix: "amy", User: "carol", PublicKeys: carol.PublicKeys, Right: api.RightRead}
	aliceKeys := userFingerprint(t, c, "alice")
	if err := c.Grant(ctx, "alice", api.TagNamespace(aliceKeys), grant); err != nil {
		t.Fatal(err)
	}
	loc, err = c.TagLocation(ctx, "carol", "alice", "amy", api.TagQuery{})
	if err != nil {
		t.Fatalf("carol after the share: %v", err)
	}
	if loc.Sightings != posted {
		t.Errorf("carol sees %d sightings, want %d", loc.Sightings, posted)
	}

	// An owner on another node is named by the fingerprint of its keys.
	loc, err = c.TagLocation(ctx, "carol", aliceKeys, "amy", api.TagQuery{})
	if err != nil {
		t.Fatalf("carol naming the owner by fingerprint: %v", err)
	}
	if loc.Sightings != posted {
		t.Errorf("carol naming the owner by fingerprint sees %d sightings, want %d", loc.Sightings, posted)
	}
	_, err = c.TagLocation(ctx, "carol", "dave", "amy", api.TagQuery{})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("owner dave, who is not a user: %v, want ErrNotFound", err)
	}
}

func TestTagAlerts(t *testing.T) {
	_, clients := startTrio(t)
	c := clients[0]
	ctx := context.Background()
	secret := tag.NewSecret()
	addTag(t, c, api.DefaultUser, "amy", secret)
	reps, _ := simulatedReports(t, secret)
	for _, rep := range reps {
		if _, err := c.PostSightings(ctx, "", "", rep); err != nil {
			t.Fatal(err)
		}
	}

	// The town spans 0..60 m; a circle far away means the tag has left.
	q := api.TagQuery{Area: "circle:1000,1000,10", Silence: time.Second}
	loc, err := c.TagLocation(ctx, "", api.DefaultUser, "amy", q)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[tag.AlertKind]int{}
	for _, a := range loc.Alerts {
		kinds[a.Kind]++
	}
	if kinds[tag.LeftArea] != 1 {
		t.Errorf("alerts %+v, want one left-area", loc.Alerts)
	}
	if kinds[tag.Silent] == 0 {
		t.Errorf("alerts %+v, want a silent one: the last sighting is older than 1 s", loc.Alerts)
	}
}

func TestSightingsRejectsBadReport(t *testing.T) {
	_, clients := startTrio(t)
	for _, body := range []string{
		`{"relay":"r1","sightings":[{"id":"nothex","rssi":-60,"time":"2026-12-04T18:20:05Z"}]}`,
		`{"relay":"r1","sightings":[]}`,
		`not json`,
	} {
		resp, err := http.Post(clients[0].Base+api.PathSightings, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("report %.40q: status %d, want 400", body, resp.StatusCode)
		}
	}
}

func TestSightingKeyRoundTrip(t *testing.T) {
	id := tag.RotatingID(tag.NewSecret(), 5)
	t0 := time.UnixMilli(1_796_000_000_123).UTC()
	var g []tag.Sighting
	for i := range maxSightingsPerRecord {
		g = append(g, tag.Sighting{ID: id, Relay: "aa:bb:cc:dd:ee:ff", RSSI: -71.5 - float64(i),
			Time: t0.Add(time.Duration(i) * 4999 * time.Millisecond)})
	}
	key := sightingKey(g)
	if len(key) > 1024 {
		t.Errorf("key of %d sightings is %d bytes, over the store's 1024", len(g), len(key))
	}
	got, err := parseSightingKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(g) {
		t.Fatalf("key round trip gave %d sightings, want %d", len(got), len(g))
	}
	for i := range g {
		if got[i] != g[i] {
			t.Errorf("sighting %d came back as %+v, want %+v", i, got[i], g[i])
		}
	}
	for _, bad := range []string{"s/zz/1/r/0:1", "s/" + id.String() + "/1/r/0-1", "s/" + id.String() + "/x/r/0:1"} {
		if _, err := parseSightingKey(bad); !errors.Is(err, errBadKey) {
			t.Errorf("parse of %q: %v, want errBadKey", bad, err)
		}
	}
}

// A report's sightings are grouped one record per identifier and relay,
// duplicates dropped.
func TestReportRecordsGroup(t *testing.T) {
	a, b := tag.RotatingID(tag.NewSecret(), 5), tag.RotatingID(tag.NewSecret(), 5)
	t0 := time.Now().Truncate(time.Millisecond)
	var ss []tag.Sighting
	for i := range 2*maxSightingsPerRecord + 1 {
		ss = append(ss, tag.Sighting{ID: a, Relay: "r1", RSSI: -60, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	ss = append(ss, ss[0], tag.Sighting{ID: b, Relay: "r1", RSSI: -70, Time: t0})
	recs, err := reportRecords(&tag.Report{Relay: "r1", Sightings: ss, Position: &tag.Point{X: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// a: 81 sightings in three records; b: one; the position: one.
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	total := 0
	for _, r := range recs[:4] {
		got, err := parseSightingKey(r.Key)
		if err != nil {
			t.Fatal(err)
		}
		total += len(got)
	}
	if total != 2*maxSightingsPerRecord+2 {
		t.Errorf("records hold %d sightings, want %d", total, 2*maxSightingsPerRecord+2)
	}
}

func TestRelayKeyRoundTrip(t *testing.T) {
	p := tag.Point{X: -12.25, Y: 3e5}
	id, got, err := parseRelayKey(relayKey("aa:bb:cc:dd:ee:ff", p))
	if err != nil || id != "aa:bb:cc:dd:ee:ff" || got != p {
		t.Fatalf("relay key round trip gave %q at %v, %v", id, got, err)
	}
	if _, _, err := parseRelayKey("relay/r1/x/1"); !errors.Is(err, errBadKey) {
		t.Errorf("parse of a bad relay key: %v, want errBadKey", err)
	}
}

// FuzzParseSightingKey checks that no key crashes the parser, and that the
// sightings of every key it accepts make the same key again. Keys come
// from the store, where any writer of the namespace may put one.
func FuzzParseSightingKey(f *testing.F) {
	id := tag.RotatingID(tag.Secret{}, 1)
	f.Add("s/" + id.String() + "/1796000000123/gw-1/0:-70,4999:-71.5")
	f.Add("s/" + id.String() + "/0/r/0:1")
	f.Add("s/zz/1/r/0:1")
	f.Fuzz(func(t *testing.T, key string) {
		got, err := parseSightingKey(key)
		if err != nil {
			if !errors.Is(err, errBadKey) {
				t.Fatalf("error %v is not errBadKey", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("key %q parsed to no sightings", key)
		}
		if _, err := parseSightingKey(sightingKey(got)); err != nil {
			t.Fatalf("key %q: its sightings' key does not parse: %v", key, err)
		}
	})
}
