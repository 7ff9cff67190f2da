package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// jobCluster is nodes on one loopback namespace that all bootstrap from
// the first, which owns the namespace "library" holding the ULB file
// R1.txt. Every node has a user "jobs" with read access, which its
// worker reads segments as.
type jobCluster struct {
	t     *testing.T
	ns    *netns.Namespace
	nodes []*daemon
	ids   []string // short node IDs
	boot  string
}

const jobReader = "jobs"

func startJobCluster(t *testing.T, n int) *jobCluster {
	t.Helper()
	c := &jobCluster{t: t, ns: netns.ForTest(t, "yuijob").NewNamespace(t, "lo")}
	c.add()
	c.boot = c.nodes[0].waitStarted(t).Listen
	for range n - 1 {
		c.add()
	}
	for _, d := range c.nodes {
		waitDaemonPeers(t, d, n-1)
	}
	return c
}

// add starts one more node, bootstrapping from the first, and gives its
// "jobs" user read access to "library".
func (c *jobCluster) add() *daemon {
	t := c.t
	i := len(c.nodes)
	args := append([]string{}, loopbackArgs...)
	if c.boot != "" {
		args = append(args, "--bootstrap", c.boot)
	}
	d := startDaemon(t, c.ns, fmt.Sprintf("job-%d", i+1), t.TempDir(), append(args, "--mqtt", "off")...)
	st := d.waitStarted(t)
	c.nodes = append(c.nodes, d)
	c.ids = append(c.ids, st.ID.Short())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := d.client().CreateUser(ctx, jobReader)
	if err != nil {
		t.Fatalf("create user on %s: %v", d.name, err)
	}
	g := api.Grant{KeyOrPrefix: "", User: jobReader, PublicKeys: u.PublicKeys, Right: api.RightRead}
	if err := c.nodes[0].client().Grant(ctx, "", "library", g); err != nil {
		t.Fatalf("grant %s's reader: %v", d.name, err)
	}
	return d
}

func waitDaemonPeers(t *testing.T, d *daemon, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if peers, err := d.client().Peers(context.Background()); err == nil && len(peers) >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not find %d peers", d.name, want)
}

// importR1 imports R1.txt into "library" through the first node and
// returns the readings the file holds.
func (c *jobCluster) importR1() []sensor.Reading {
	t := c.t
	path := sharedSensorData(t, "ulb-library1/R1.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := c.nodes[0]
	out, err := c.ns.Command(ctx, yuiBin, "import", path, "--ns", "library", "--data-dir", d.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "7563 rows read, 7563 stored, 0 rejected") {
		t.Fatalf("import: %v: %s", err, out)
	}
	var all []sensor.Reading
	_, err = importer.ImportFile(path, importer.Options{Logger: slog.New(slog.DiscardHandler)}, func(r sensor.Reading) error {
		all = append(all, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// hourStats is the brute-force aggregate of one sensor's hour.
type hourStats struct {
	readings, temps int
	sum             big.Rat
	min, max        float64
}

// bruteForce computes the readings and the temperature count, mean,
// minimum and maximum of every sensor's every hour, the way a job does
// but on one machine over the plaintext.
func bruteForce(readings []sensor.Reading) map[string]*hourStats {
	out := make(map[string]*hourStats)
	for i := range readings {
		r := &readings[i]
		key := r.Source + "@" + r.Time.UTC().Truncate(time.Hour).Format(time.RFC3339)
		h := out[key]
		if h == nil {
			h = &hourStats{}
			out[key] = h
		}
		h.readings++
		v, ok := r.Get("temperature")
		x, isNum := v.Number()
		if !ok || !isNum {
			continue
		}
		if h.temps == 0 || x < h.min {
			h.min = x
		}
		if h.temps == 0 || x > h.max {
			h.max = x
		}
		h.temps++
		h.sum.Add(&h.sum, new(big.Rat).SetFloat64(x))
	}
	return out
}

// checkResult compares a job's groups with the brute-force aggregates,
// exactly: the job sums exactly too, and rounds once.
func checkResult(t *testing.T, st *api.JobStatus, want map[string]*hourStats) {
	t.Helper()
	if !st.Done || st.Failed != 0 || st.Committed != st.Units {
		t.Fatalf("job status %+v, want done with every unit committed", st)
	}
	if len(st.Groups) != len(want) {
		t.Fatalf("job returned %d sensor-hours, the file has %d", len(st.Groups), len(want))
	}
	for _, g := range st.Groups {
		key := g.Sensor + "@" + g.Start.UTC().Format(time.RFC3339)
		w := want[key]
		if w == nil {
			t.Fatalf("job returned group %s, which the file does not have", key)
		}
		f, ok := g.Fields["temperature"]
		if w.temps == 0 {
			if ok || g.Count != w.readings {
				t.Fatalf("group %s: %d readings, temperature %+v; want %d readings, no temperature", key, g.Count, f, w.readings)
			}
			continue
		}
		sum, _ := w.sum.Float64()
		mean := sum / float64(w.temps)
		if g.Count != w.readings || f.Count != w.temps || f.Mean == nil || *f.Mean != mean ||
			*f.Min != w.min || *f.Max != w.max {
			t.Fatalf("group %s: %d readings, temperature %+v (mean %v); want %d readings, %d temperatures, mean %v, min %v, max %v",
				key, g.Count, f, deref(f.Mean), w.readings, w.temps, mean, w.min, w.max)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

var meanPerSensorHour = api.JobRequest{Aggregates: []string{"count", "min", "max", "mean"}, By: "sensor,hour",
	SegmentsPerUnit: 1, Reader: jobReader}

// submit submits a job through the first node, again until neither its
// manager nor its backup is one of the nodes in avoid, so that the test
// may kill those.
func (c *jobCluster) submit(ctx context.Context, req api.JobRequest, avoid func(info *api.JobInfo) bool) *api.JobInfo {
	t := c.t
	client := c.nodes[0].client()
	for range 20 {
		info, err := client.SubmitJob(ctx, "", "library", req)
		if err != nil {
			t.Fatal(err)
		}
		if avoid == nil || !avoid(info) {
			return info
		}
		client.CancelJob(ctx, info.ID)
	}
	t.Fatal("every job got a manager the test cannot use")
	return nil
}

// waitJob polls the job until done, calling at with each status first.
func (c *jobCluster) waitJob(ctx context.Context, id string, at func(st *api.JobStatus)) *api.JobStatus {
	t := c.t
	client := c.nodes[0].client()
	for {
		st, err := client.Job(ctx, id)
		if err == nil {
			if at != nil {
				at(st)
			}
			if st.Done || st.Canceled {
				return st
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s did not finish: last status %+v, err %v", id, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *jobCluster) index(short string) int {
	for i, id := range c.ids {
		if id == short {
			return i
		}
	}
	return -1
}

// TestJobMeanPerSensorHour runs the mean temperature per sensor per hour
// of R1.txt as a job on six nodes. Mid-job it kills a third of the
// workers with SIGKILL and starts a new node. The result must still equal
// the brute-force computation, and the new node must receive units. Then it
// runs the job again and kills its manager: the backup finishes it.
func TestJobMeanPerSensorHour(t *testing.T) {
	c := startJobCluster(t, 6)
	want := bruteForce(c.importR1())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Workers die: the submitter, manager and backup stay.
	info := c.submit(ctx, meanPerSensorHour, nil)
	keep := map[int]bool{0: true, c.index(info.Manager): true, c.index(info.Backup): true}
	var victims []*daemon
	for i, d := range c.nodes {
		if !keep[i] && len(victims) < 2 {
			victims = append(victims, d)
		}
	}
	var added *daemon
	st := c.waitJob(ctx, info.ID, func(st *api.JobStatus) {
		if added == nil && st.Committed > 0 {
			for _, d := range victims {
				d.kill()
			}
			t.Logf("killed %d workers at %d/%d units", len(victims), st.Committed, st.Units)
			added = c.add()
		}
	})
	checkResult(t, st, want)
	if added == nil {
		t.Fatal("the job ended before any unit committed")
	}
	t.Logf("job of %d units done at epoch %d", st.Units, st.Epoch)
	// The new node may get its first unit before its read grant lands;
	// that unit then fails there and runs elsewhere, so the test asks
	// only that units reached it.
	if !strings.Contains(added.log.String(), "job unit assigned") {
		t.Errorf("the node started mid-job received no unit")
	}

	// The manager dies: the backup takes over at a higher epoch. The
	// submitter must survive, so it may be neither.
	info = c.submit(ctx, meanPerSensorHour, func(info *api.JobInfo) bool {
		m, b := c.index(info.Manager), c.index(info.Backup)
		return m <= 0 || b <= 0 || !c.nodes[m].running() || !c.nodes[b].running()
	})
	manager := c.nodes[c.index(info.Manager)]
	var killedAt uint64
	st = c.waitJob(ctx, info.ID, func(st *api.JobStatus) {
		if killedAt == 0 && st.Committed > 0 {
			manager.kill()
			killedAt = st.Epoch
			t.Logf("killed the manager at %d/%d units, epoch %d", st.Committed, st.Units, st.Epoch)
		}
	})
	checkResult(t, st, want)
	if killedAt == 0 || st.Epoch <= killedAt {
		t.Fatalf("job ended at epoch %d, manager killed at epoch %d; want the backup's higher epoch", st.Epoch, killedAt)
	}
}
