package e2e

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// TestJobEncryptedCLI runs 'yui job run --encrypted' over R1.txt on three
// node processes whose workers read as a user granted only the prefix
// he/. It checks the mean of every field per sensor and hour against the
// exact mean of the file's decimals, that only the submitting node can
// report the result, and that no worker node holds a BGV key file.
func TestJobEncryptedCLI(t *testing.T) {
	c := startJobCluster(t, 3)
	readings := c.importR1()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
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

	out, err := c.ns.Command(ctx, yuiBin, "job", "run", "library", "--agg", "count,sum,mean", "--by", "sensor,hour",
		"--encrypted", "--reader", "hejobs", "--json", "--data-dir", c.nodes[0].dataDir).Output()
	if err != nil {
		t.Fatalf("yui job run --encrypted: %v: %s", err, out)
	}
	var st api.JobStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("job result is not JSON: %v: %s", err, out)
	}
	if !st.Done || st.Failed != 0 || st.Committed != st.Units {
		t.Fatalf("job %s: %d of %d units committed, %d failed, done %v", st.ID, st.Committed, st.Units, st.Failed, st.Done)
	}
	checkDecimalMeans(t, readings, st.Groups)

	status, err := c.ns.Command(ctx, yuiBin, "job", "status", st.ID, "--data-dir", c.nodes[1].dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(status), "unknown job") {
		t.Errorf("yui job status on a worker node: %v: %s; want unknown job", err, status)
	}
	for i, d := range c.nodes {
		found, err := filepath.Glob(filepath.Join(d.dataDir, "users", "*.bgv"))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[i == 0]; len(found) != want {
			t.Errorf("node %d holds BGV key files %v, want %d", i+1, found, want)
		}
	}
}

// checkDecimalMeans compares the groups' means with the exact mean of
// each sensor's hour over the file's values, which have two decimals.
func checkDecimalMeans(t *testing.T, readings []sensor.Reading, groups []api.AggregateGroup) {
	t.Helper()
	type total struct {
		sum   big.Rat
		count int64
	}
	want := make(map[string]*total)
	for _, r := range readings {
		hour := r.Time.UTC().Truncate(time.Hour).Format(time.RFC3339)
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			key := r.Source + "@" + hour + "/" + f.Name
			if want[key] == nil {
				want[key] = &total{}
			}
			want[key].sum.Add(&want[key].sum, big.NewRat(int64(math.Round(v*100)), 100))
			want[key].count++
		}
	}
	compared := 0
	for _, g := range groups {
		for name, f := range g.Fields {
			key := g.Sensor + "@" + g.Start.UTC().Format(time.RFC3339) + "/" + name
			w := want[key]
			if w == nil {
				t.Fatalf("job returned %s, which the file does not have", key)
			}
			mean, _ := new(big.Rat).Quo(&w.sum, new(big.Rat).SetInt64(w.count)).Float64()
			if int64(f.Count) != w.count || f.Mean == nil || *f.Mean != mean {
				t.Errorf("%s: count %d mean %v; want %d and %v", key, f.Count, deref(f.Mean), w.count, mean)
			}
			compared++
		}
	}
	if compared != len(want) || compared < 500 {
		t.Errorf("compared %d sensor-hour fields, the file has %d", compared, len(want))
	}
}
