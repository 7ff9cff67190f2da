package node

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/tag"
)

// syncBuffer is a bytes.Buffer that a logger and a test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSweepTrio starts three nodes on loopback. The first keeps
// sightings for keep, sweeps every sweepEvery and logs into the returned
// buffer.
func startSweepTrio(t *testing.T, keep, sweepEvery time.Duration) ([]*api.Client, *syncBuffer) {
	t.Helper()
	base := t.TempDir()
	logs := &syncBuffer{}
	first, err := Start(context.Background(), Config{DataDir: filepath.Join(base, "a"), Listen: "127.0.0.1:0",
		API: "127.0.0.1:0", DiscoveryPort: -1, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		SightingsKeep: keep, sightingsSweepEvery: sweepEvery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	_, clients := joinTrio(t, base, first)
	return clients, logs
}

// expiryReport returns a report of relay r1 with the tag's sightings
// every 5 s over the minute before now and over the minute before old.
// It adds one sighting at old of each of strangers other identifiers.
func expiryReport(secret tag.Secret, now, old time.Time, strangers int) *tag.Report {
	rep := &tag.Report{Relay: "r1", Position: &tag.Point{X: 10, Y: 20}}
	for _, end := range []time.Time{old, now} {
		for i := range 12 {
			at := end.Add(-time.Duration(i) * 5 * time.Second)
			id := tag.RotatingID(secret, tag.Window(at))
			rep.Sightings = append(rep.Sightings, tag.Sighting{ID: id, Relay: "r1", RSSI: -60, Time: at})
		}
	}
	for range strangers {
		id := tag.RotatingID(tag.NewSecret(), tag.Window(old))
		rep.Sightings = append(rep.Sightings, tag.Sighting{ID: id, Relay: "r1", RSSI: -70, Time: old})
	}
	return rep
}

// sightingTimes returns the newest sighting time of each sighting record
// of the network, and the count of relay records.
func sightingTimes(t *testing.T, c *api.Client, network string) (newest []time.Time, relays int) {
	t.Helper()
	newest, relays, err := listSightingTimes(c, network)
	if err != nil {
		t.Fatal(err)
	}
	return newest, relays
}

// listSightingTimes is sightingTimes with the error returned, for polls
// that a listing failing under load must not end.
func listSightingTimes(c *api.Client, network string) (newest []time.Time, relays int, err error) {
	recs, err := c.ListRecords(context.Background(), "", api.SightingsNamespace(network), "")
	if err != nil {
		return nil, 0, fmt.Errorf("list sightings of %s: %w", network, err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Key, relayPrefix) {
			relays++
			continue
		}
		at, err := newestSightingTime(r.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("record %q: %w", r.Key, err)
		}
		newest = append(newest, at)
	}
	return newest, relays, nil
}

// expiredRecords returns how many of the sighting records the node
// stores for rep have no sighting since cutoff, and how many it stores.
func expiredRecords(t *testing.T, rep *tag.Report, cutoff time.Time) (expired, total int) {
	t.Helper()
	recs, err := reportRecords(rep)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, r := range recs {
		if strings.HasPrefix(r.Key, sightingPrefix) {
			at, err := newestSightingTime(r.Key)
			if err != nil {
				t.Fatal(err)
			}
			times = append(times, at)
		}
	}
	return countBefore(times, cutoff), len(times)
}

func countBefore(times []time.Time, cutoff time.Time) int {
	n := 0
	for _, at := range times {
		if at.Before(cutoff) {
			n++
		}
	}
	return n
}

// grantSightings creates the network's namespace with a first report and
// lets the default user of the node behind reader read it.
func grantSightings(t *testing.T, owner, reader *api.Client, network string) {
	t.Helper()
	ctx := context.Background()
	first := &tag.Report{Relay: "r0", Sightings: []tag.Sighting{
		{ID: tag.RotatingID(tag.NewSecret(), tag.Window(time.Now())), Relay: "r0", RSSI: -80, Time: time.Now()}}}
	if _, err := owner.PostSightings(ctx, "", network, first); err != nil {
		t.Fatal(err)
	}
	users, err := reader.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name != api.DefaultUser {
			continue
		}
		g := api.Grant{User: "reader", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := owner.Grant(ctx, "", api.SightingsNamespace(network), g); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("the reader's node has no default user")
}

// The sweep deletes the records older than the retention, more than one
// batch of them, through the store, and keeps recent records and relay
// positions.
func TestSightingsSweepDeletesExpired(t *testing.T) {
	const network = "town"
	clients, logs := startSweepTrio(t, time.Hour, 300*time.Millisecond)
	c := clients[0]
	ctx := context.Background()
	secret := tag.NewSecret()
	addTag(t, c, api.DefaultUser, "amy", secret)

	now := time.Now()
	old := now.Add(-2 * time.Hour)
	strangers := sightingsDeleteBatch + 44
	rep := expiryReport(secret, now, old, strangers)
	expired, total := expiredRecords(t, rep, now.Add(-time.Hour))
	grantSightings(t, c, clients[1], network)
	res, err := c.PostSightings(ctx, "", network, rep)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 24+strangers {
		t.Fatalf("stored %d sightings, want %d", res.Stored, 24+strangers)
	}

	cutoff := time.Now().Add(-time.Hour)
	waitWithin(t, "the sweep to delete the expired records", time.Minute, func() bool {
		times, _, err := listSightingTimes(c, network)
		return err == nil && countBefore(times, cutoff) == 0
	})
	times, relays := sightingTimes(t, c, network)
	// The first report, from grantSightings, adds one recent record.
	if len(times) != total-expired+1 {
		t.Errorf("%d records after the sweep, want the %d recent ones", len(times), total-expired+1)
	}
	if relays != 1 {
		t.Errorf("%d relay records after the sweep, want 1", relays)
	}
	// Another node reads the namespace from the holders, so the deletes
	// reached them as tombstones.
	otherTimes, _ := sightingTimes(t, clients[1], network)
	if n := countBefore(otherTimes, cutoff); n != 0 {
		t.Errorf("another node still lists %d expired records", n)
	}

	loc, err := c.TagLocation(ctx, "", api.DefaultUser, "amy", api.TagQuery{Network: network, Since: tag.MaxAge})
	if err != nil {
		t.Fatal(err)
	}
	if loc.Sightings != 12 {
		t.Errorf("located amy from %d sightings, want the 12 recent ones", loc.Sightings)
	}
	if loc.Latest == nil {
		t.Error("no position for amy from the recent sightings")
	}

	// A sweep that starts while the report is being stored deletes part
	// of it, and the next sweep the rest, so the lines add up. The last
	// line may follow the last delete by a moment.
	logged := func() int {
		total := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "msg=\"deleted expired sightings\"") {
				continue
			}
			if !strings.Contains(line, "network="+network) {
				t.Errorf("log line %q does not name network %s", line, network)
			}
			i := strings.Index(line, "records=")
			var n int
			if i < 0 {
				t.Errorf("log line %q does not count the records", line)
			} else if _, err := fmt.Sscanf(line[i:], "records=%d", &n); err != nil {
				t.Errorf("log line %q: %v", line, err)
			}
			total += n
		}
		return total
	}
	waitFor(t, "the sweeps' log lines", func() bool { return logged() >= expired })
	if got := logged(); got != expired {
		t.Errorf("sweeps logged %d deleted records, want %d:\n%s", got, expired, logs.String())
	}
}

// A location request ignores sightings older than the retention even
// when no sweep has deleted them yet.
func TestTagLocateIgnoresExpired(t *testing.T) {
	clients, _ := startSweepTrio(t, time.Hour, time.Hour)
	c := clients[0]
	ctx := context.Background()
	secret := tag.NewSecret()
	addTag(t, c, api.DefaultUser, "amy", secret)
	now := time.Now()
	rep := expiryReport(secret, now, now.Add(-3*time.Hour), 0)
	if _, err := c.PostSightings(ctx, "", "", rep); err != nil {
		t.Fatal(err)
	}
	times, _ := sightingTimes(t, c, api.DefaultTagNetwork)
	want, _ := expiredRecords(t, rep, now.Add(-time.Hour))
	if n := countBefore(times, now.Add(-time.Hour)); n != want || n == 0 {
		t.Fatalf("%d expired records stored, want %d not yet swept", n, want)
	}

	loc, err := c.TagLocation(ctx, "", api.DefaultUser, "amy", api.TagQuery{Since: tag.MaxAge, History: true})
	if err != nil {
		t.Fatal(err)
	}
	if loc.Sightings != 12 {
		t.Errorf("located amy from %d sightings, want the 12 within the retention", loc.Sightings)
	}
	if earliest := time.Now().Add(-time.Hour - time.Minute); loc.Since.Before(earliest) {
		t.Errorf("search starts at %v, before the retention's cutoff %v", loc.Since, earliest)
	}
	for _, fix := range loc.History {
		if fix.Time.Before(now.Add(-time.Hour)) {
			t.Errorf("fix at %v comes from an expired sighting", fix.Time)
		}
	}
}

// A negative SightingsKeep, which the --sightings-keep 0 flag selects,
// keeps every sighting: sweeps delete nothing and location uses all.
func TestSightingsKeepForever(t *testing.T) {
	clients, logs := startSweepTrio(t, -1, 50*time.Millisecond)
	c := clients[0]
	ctx := context.Background()
	secret := tag.NewSecret()
	addTag(t, c, api.DefaultUser, "amy", secret)
	now := time.Now()
	rep := expiryReport(secret, now, now.Add(-6*24*time.Hour), 3)
	if _, err := c.PostSightings(ctx, "", "", rep); err != nil {
		t.Fatal(err)
	}
	want, _ := expiredRecords(t, rep, now.Add(-time.Hour))
	// Twenty sweep intervals: a sweep would have run by now if the
	// setting did not turn it off.
	time.Sleep(time.Second)
	times, _ := sightingTimes(t, c, api.DefaultTagNetwork)
	if n := countBefore(times, now.Add(-time.Hour)); n != want {
		t.Errorf("%d records older than an hour remain, want all %d", n, want)
	}
	if strings.Contains(logs.String(), "expired sightings") {
		t.Errorf("log mentions a sweep: %q", logs.String())
	}
	loc, err := c.TagLocation(ctx, "", api.DefaultUser, "amy", api.TagQuery{Since: tag.MaxAge})
	if err != nil {
		t.Fatal(err)
	}
	if loc.Sightings != 24 {
		t.Errorf("located amy from %d sightings, want all 24", loc.Sightings)
	}
}
