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

// TestJobEncryptedCLI runs 'yui job run --encrypted' over R1.txt on four
// node processes whose workers read as a user granted only the prefix
// he/. It checks the mean of every field per sensor and hour against the
// exact mean of the file's decimals, that only the submitting node can
// report the result, and that no worker node holds a BGV key file. A
// second encrypted job loses its manager to SIGKILL, and the backup must
// finish it with the same exact counts and means. Last, the submitting
// node is killed with SIGKILL and started again, and must still decrypt
// the first job's result.
func TestJobEncryptedCLI(t *testing.T) {
	c := startJobCluster(t, 4)
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
	checkDecimalMeans(t, readings, st.Groups, len(readings))

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

	encryptedTakeover(ctx, t, c, readings)
	encryptedAfterRestart(ctx, t, c, st.ID, readings)
}

// encryptedAfterRestart kills the submitting node with SIGKILL once it
// has stored the job's result, starts it again on the same data folder,
// and checks that 'yui job status' decrypts the same exact means from
// the job's record.
func encryptedAfterRestart(ctx context.Context, t *testing.T, c *jobCluster, id string, readings []sensor.Reading) {
	t.Helper()
	submitter := c.nodes[0]
	waitLog(t, submitter, "stored job result", 30*time.Second)
	submitter.kill()

	var boot string
	for _, d := range c.nodes[1:] {
		if d.running() {
			boot = d.waitStarted(t).Listen
			break
		}
	}
	args := append(append([]string{}, loopbackArgs...), "--bootstrap", boot, "--mqtt", "off")
	again := startDaemon(t, c.ns, "job-1-again", submitter.dataDir, args...)
	waitDaemonPeers(t, again, 1)

	out, err := c.ns.Command(ctx, yuiBin, "job", "status", id, "--json", "--data-dir", submitter.dataDir).Output()
	if err != nil {
		t.Fatalf("yui job status after the submitter restarted: %v: %s", err, out)
	}
	var st api.JobStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("job status is not JSON: %v: %s", err, out)
	}
	if !st.Done || st.Committed != st.Units {
		t.Fatalf("job %s after the restart: %d of %d units committed, done %v", id, st.Committed, st.Units, st.Done)
	}
	checkDecimalMeans(t, readings, st.Groups, len(readings))
}

// encryptedTakeover runs an encrypted job over the file's first two
// hours, one sensor-hour per unit, and kills its manager once a unit has
// committed. The submitter holds the key, so it may be neither the
// manager nor the backup.
func encryptedTakeover(ctx context.Context, t *testing.T, c *jobCluster, readings []sensor.Reading) {
	t.Helper()
	from := time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	var window []sensor.Reading
	for _, r := range readings {
		if !r.Time.Before(from) && r.Time.Before(to) {
			window = append(window, r)
		}
	}
	req := api.JobRequest{Query: api.QueryRequest{From: &from, To: &to}, Aggregates: []string{"count", "mean"},
		By: "sensor,hour", SegmentsPerUnit: 1, Reader: "hejobs", Encrypted: true}
	info := c.submit(ctx, req, func(info *api.JobInfo) bool {
		return c.index(info.Manager) <= 0 || c.index(info.Backup) <= 0
	})
	manager := c.nodes[c.index(info.Manager)]
	var killedAt uint64
	st := c.waitJob(ctx, info.ID, func(st *api.JobStatus) {
		if killedAt == 0 && st.Committed > 0 {
			manager.kill()
			killedAt = st.Epoch
			t.Logf("killed the manager of the encrypted job at %d/%d units, epoch %d", st.Committed, st.Units, st.Epoch)
		}
	})
	if !st.Done || st.Failed != 0 || st.Committed != st.Units {
		t.Fatalf("job %s: %d of %d units committed, %d failed, done %v", st.ID, st.Committed, st.Units, st.Failed, st.Done)
	}
	if killedAt == 0 || st.Epoch <= killedAt {
		t.Fatalf("job ended at epoch %d, manager killed at epoch %d; want the backup's higher epoch", st.Epoch, killedAt)
	}
	checkDecimalMeans(t, window, st.Groups, len(window))
}

// checkDecimalMeans compares the groups' means with the exact mean of
// each sensor's hour over the file's values, which have two decimals.
func checkDecimalMeans(t *testing.T, readings []sensor.Reading, groups []api.AggregateGroup, wantReadings int) {
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
	compared, counted := 0, 0
	for _, g := range groups {
		counted += g.Count
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
	if compared != len(want) || compared < 100 {
		t.Errorf("compared %d sensor-hour fields, the readings have %d", compared, len(want))
	}
	if counted != wantReadings {
		t.Errorf("groups count %d readings, want %d: a unit counted twice or lost", counted, wantReadings)
	}
}
