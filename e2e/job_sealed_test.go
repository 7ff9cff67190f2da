package e2e

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// TestJobSealedCLI seals "library" with 'yui job seal' on three node
// processes, imports R1.txt with 'yui import', and runs the mean of every
// field per hour with 'yui job run --encrypted' over the ciphertexts
// stored at ingest, and as a plain job. Every encrypted mean must equal
// the exact mean of the file's decimals, and every count the plain job's.
// A job by sensor over all the file's sensors needs more ciphertexts than
// a job message carries and must be rejected.
func TestJobSealedCLI(t *testing.T) {
	c := startJobCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := c.ns.Command(ctx, yuiBin, "job", "seal", "library", "--data-dir", c.nodes[0].dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sealed library for default: scale 100") {
		t.Fatalf("yui job seal: %v: %s", err, out)
	}
	for _, d := range c.nodes {
		u, err := d.client().CreateUser(ctx, "hejobs")
		if err != nil {
			t.Fatal(err)
		}
		g := api.Grant{KeyOrPrefix: "he/", User: "hejobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := c.nodes[0].client().Grant(ctx, "", "library", g); err != nil {
			t.Fatal(err)
		}
	}
	readings := c.importR1()

	run := func(args ...string) api.JobStatus {
		t.Helper()
		args = append([]string{"job", "run", "library", "--agg", "count,sum,mean", "--json", "--data-dir", c.nodes[0].dataDir}, args...)
		out, err := c.ns.Command(ctx, yuiBin, args...).Output()
		if err != nil {
			t.Fatalf("yui %s: %v: %s", strings.Join(args, " "), err, out)
		}
		var st api.JobStatus
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("job result is not JSON: %v: %s", err, out)
		}
		if !st.Done || st.Failed != 0 || st.Committed != st.Units {
			t.Fatalf("job %s: %d of %d units committed, %d failed, done %v", st.ID, st.Committed, st.Units, st.Failed, st.Done)
		}
		return st
	}
	plain := run("--by", "hour", "--reader", "jobs")
	sealed := run("--by", "hour", "--reader", "hejobs", "--encrypted")
	checkHourMeans(t, readings, plain.Groups, sealed.Groups)

	// Nineteen sensors need more page sums than a job message carries, so
	// workers store them as records through the submitting node.
	plain = run("--by", "sensor", "--reader", "jobs")
	sealed = run("--by", "sensor", "--reader", "hejobs", "--encrypted")
	checkMeans(t, readings, "sensor", plain.Groups, sealed.Groups)
}

// checkHourMeans compares a sealed job's groups by hour with the plain
// job's counts and with the exact mean of the file's decimals per hour.
func checkHourMeans(t *testing.T, readings []sensor.Reading, plain, sealed []api.AggregateGroup) {
	t.Helper()
	checkMeans(t, readings, "hour", plain, sealed)
}

// checkMeans compares a sealed job's groups by hour or by sensor with
// the plain job's counts and with the exact mean of the file's decimals
// per group.
func checkMeans(t *testing.T, readings []sensor.Reading, by string, plain, sealed []api.AggregateGroup) {
	t.Helper()
	readingKey := func(r sensor.Reading) string { return r.Time.UTC().Truncate(time.Hour).Format(time.RFC3339) }
	groupKey := func(g api.AggregateGroup) string {
		if g.Start == nil {
			return ""
		}
		return g.Start.UTC().Format(time.RFC3339)
	}
	if by == "sensor" {
		readingKey = func(r sensor.Reading) string { return r.Source }
		groupKey = func(g api.AggregateGroup) string { return g.Sensor }
	}
	type total struct {
		sum   big.Rat
		count int64
	}
	want := make(map[string]*total)
	for _, r := range readings {
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			key := readingKey(r) + "/" + f.Name
			if want[key] == nil {
				want[key] = &total{}
			}
			want[key].sum.Add(&want[key].sum, big.NewRat(int64(math.Round(v*100)), 100))
			want[key].count++
		}
	}
	if len(sealed) != len(plain) || len(sealed) == 0 {
		t.Fatalf("encrypted job by %s returned %d groups, the plain job %d", by, len(sealed), len(plain))
	}
	compared, counted := 0, 0
	for i, g := range sealed {
		p := plain[i]
		if groupKey(g) == "" || groupKey(g) != groupKey(p) || g.Count != p.Count {
			t.Fatalf("group %d by %s: %q with %d readings, plain job %q with %d", i, by, groupKey(g), g.Count, groupKey(p), p.Count)
		}
		counted += g.Count
		for name, f := range g.Fields {
			key := groupKey(g) + "/" + name
			w := want[key]
			if w == nil {
				t.Fatalf("job returned %s, which the file does not have", key)
			}
			mean, _ := new(big.Rat).Quo(&w.sum, new(big.Rat).SetInt64(w.count)).Float64()
			if int64(f.Count) != w.count || f.Mean == nil || *f.Mean != mean {
				t.Errorf("%s: count %d mean %v; want %d and %v", key, f.Count, deref(f.Mean), w.count, mean)
			}
			if pf := p.Fields[name]; pf.Mean == nil || math.Abs(*f.Mean-*pf.Mean) > 1e-14*math.Abs(*pf.Mean) {
				t.Errorf("%s: encrypted mean %v, plain mean %v", key, deref(f.Mean), deref(pf.Mean))
			}
			compared++
		}
	}
	if compared != len(want) {
		t.Errorf("compared %d group fields by %s, the readings have %d", compared, by, len(want))
	}
	if counted != len(readings) {
		t.Errorf("groups count %d readings, want %d", counted, len(readings))
	}
}
