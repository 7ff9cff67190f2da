package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
	"github.com/yuinet/yui/storage/seal"
)

// jobCluster is nodes on one loopback namespace that all bootstrap from
// the first, which owns the namespace "library" holding the ULB file
// R1.txt. Every node has a user "jobs" with read access, which its
// worker reads segments as.
type jobCluster struct {
	t     *testing.T
	ns    *netns.Namespace
	args  []string // listen and API flags of every node
	nodes []*daemon
	ids   []string // short node IDs
	boot  string
}

const jobReader = "jobs"

func startJobCluster(t *testing.T, n int) *jobCluster {
	t.Helper()
	return startJobClusterWith(t, n, loopbackArgs)
}

// startJobClusterWith is startJobCluster with the given listen and API
// flags. Nodes that listen on every interface bootstrap from the first
// at 127.0.0.1.
func startJobClusterWith(t *testing.T, n int, args []string) *jobCluster {
	t.Helper()
	c := &jobCluster{t: t, ns: netns.ForTest(t, "yuijob").NewNamespace(t, "lo"), args: args}
	c.add()
	listen := netip.MustParseAddrPort(c.nodes[0].waitStarted(t).Listen)
	if listen.Addr().IsUnspecified() {
		listen = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), listen.Port())
	}
	c.boot = listen.String()
	for range n - 1 {
		c.add()
	}
	for _, d := range c.nodes {
		waitDaemonPeers(t, d, n-1)
	}
	return c
}

// add starts one more node, bootstrapping from the first, with a "jobs"
// user that has read access to "library". The user's key file is written
// and granted before the node starts, as an operator would prepare a
// worker, so the node reads from its first unit on.
func (c *jobCluster) add() *daemon {
	t := c.t
	i := len(c.nodes)
	dir := t.TempDir()
	u, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := seal.SaveUser(filepath.Join(dir, "users", jobReader+".pem"), u); err != nil {
		t.Fatal(err)
	}
	keys, err := u.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if i > 0 {
		c.grant(keys)
	}

	args := append([]string{}, c.args...)
	if c.boot != "" {
		args = append(args, "--bootstrap", c.boot)
	}
	d := startDaemon(t, c.ns, fmt.Sprintf("job-%d", i+1), dir, append(args, "--mqtt", "off")...)
	st := d.waitStarted(t)
	c.nodes = append(c.nodes, d)
	c.ids = append(c.ids, st.ID.Short())
	if i == 0 {
		c.grant(keys)
	}
	return d
}

// grant gives a reader's keys read access to "library", as the first
// node's default user, which owns it.
func (c *jobCluster) grant(keys []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := api.Grant{KeyOrPrefix: "", User: jobReader, PublicKeys: keys, Right: api.RightRead}
	if err := c.nodes[0].client().Grant(ctx, "", "library", g); err != nil {
		c.t.Fatalf("grant a reader: %v", err)
	}
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
	// The ULB files have no header: --map ulb names their columns, the
	// temperature among them.
	out, err := c.ns.Command(ctx, yuiBin, "import", path, "--ns", "library", "--map", "ulb", "--data-dir", d.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "7563 rows read, 7563 stored, 0 rejected") {
		t.Fatalf("import: %v: %s", err, out)
	}
	m, err := importer.ParseMap(importer.ULBReadingsMap)
	if err != nil {
		t.Fatal(err)
	}
	var all []sensor.Reading
	_, err = importer.ImportFile(path, importer.Options{Map: m, Logger: slog.New(slog.DiscardHandler)}, func(r sensor.Reading) error {
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
	readings, values int
	sum              big.Rat
	min, max         float64
}

// step is a map step done here: it returns the value to aggregate of a
// reading, and whether to keep the reading at all.
type step func(r *sensor.Reading) (float64, bool, bool)

// plainTemperature keeps every reading and aggregates its temperature.
func plainTemperature(r *sensor.Reading) (x float64, hasValue, keep bool) {
	v, _ := r.Get("temperature")
	x, ok := v.Number()
	return x, ok, true
}

// fahrenheitBelow does what the sandbox's example step does with the
// argument limit: it keeps readings with a temperature whose °F value is
// at most limit, and aggregates that value.
func fahrenheitBelow(limit float64) step {
	return func(r *sensor.Reading) (float64, bool, bool) {
		v, _ := r.Get("temperature")
		c, ok := v.Number()
		if !ok {
			return 0, false, false
		}
		f := c*9/5 + 32
		return f, true, f <= limit
	}
}

// bruteForce computes the readings and the value count, mean, minimum
// and maximum of every sensor's every hour, the way a job does but on
// one machine over the plaintext.
func bruteForce(readings []sensor.Reading, f step) map[string]*hourStats {
	out := make(map[string]*hourStats)
	for i := range readings {
		r := &readings[i]
		x, hasValue, keep := f(r)
		if !keep {
			continue
		}
		key := r.Source + "@" + r.Time.UTC().Truncate(time.Hour).Format(time.RFC3339)
		h := out[key]
		if h == nil {
			h = &hourStats{}
			out[key] = h
		}
		h.readings++
		if !hasValue {
			continue
		}
		if h.values == 0 || x < h.min {
			h.min = x
		}
		if h.values == 0 || x > h.max {
			h.max = x
		}
		h.values++
		h.sum.Add(&h.sum, new(big.Rat).SetFloat64(x))
	}
	return out
}

// checkResult compares a job's groups with the brute-force aggregates of
// field, exactly: the job sums exactly too, and rounds once.
func checkResult(t *testing.T, st *api.JobStatus, field string, want map[string]*hourStats) {
	t.Helper()
	if !st.Done || st.Failed != 0 || st.Committed != st.Units {
		t.Fatalf("job %s: %d of %d units committed, %d failed, done %v; want every unit committed",
			st.ID, st.Committed, st.Units, st.Failed, st.Done)
	}
	if len(st.Groups) != len(want) {
		t.Fatalf("job returned %d sensor-hours, the file has %d", len(st.Groups), len(want))
	}
	withValues := 0
	for _, w := range want {
		if w.values > 0 {
			withValues++
		}
	}
	if withValues < 100 {
		t.Fatalf("only %d sensor-hours of the file have a %s; the check would prove little", withValues, field)
	}
	for _, g := range st.Groups {
		key := g.Sensor + "@" + g.Start.UTC().Format(time.RFC3339)
		w := want[key]
		if w == nil {
			t.Fatalf("job returned group %s, which the file does not have", key)
		}
		f, ok := g.Fields[field]
		if w.values == 0 {
			if ok || g.Count != w.readings {
				t.Fatalf("group %s: %d readings, %s %+v; want %d readings, no %s", key, g.Count, field, f, w.readings, field)
			}
			continue
		}
		sum, _ := w.sum.Float64()
		mean := sum / float64(w.values)
		if g.Count != w.readings || f.Count != w.values || f.Mean == nil || *f.Mean != mean ||
			*f.Min != w.min || *f.Max != w.max {
			t.Fatalf("group %s: %d readings, %s count %d mean %v; want %d readings, %d values, mean %v, min %v, max %v",
				key, g.Count, field, f.Count, deref(f.Mean), w.readings, w.values, mean, w.min, w.max)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

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

// TestJobMeanPerSensorHour runs jobs over R1.txt on six nodes and
// compares their results with a brute-force computation over the file.
// The first runs the sandbox's example step, which converts temperatures
// to °F. Mid-job it starts a new node and kills a third of the workers
// with SIGKILL; the result must not change, and the new node must
// receive units. The second computes the mean temperature per sensor
// and hour, and its manager is killed: the backup finishes it at a
// higher epoch, and the exact counts show that no unit counted twice.
func TestJobMeanPerSensorHour(t *testing.T) {
	c := startJobCluster(t, 6)
	readings := c.importR1()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The module goes in while every node lives: a write needs most of
	// the namespace's holders.
	module := c.putModule(ctx)

	// A node joins while the workers compile the step, before the first
	// unit commits, and then workers die: the submitter, manager and
	// backup stay.
	req := api.JobRequest{Aggregates: []string{"count", "min", "max", "mean"}, By: "sensor,hour",
		SegmentsPerUnit: 1, Reader: jobReader, Module: module, ModuleArgs: []string{"72"}}
	info := c.submit(ctx, req, nil)
	keep := map[int]bool{0: true, c.index(info.Manager): true, c.index(info.Backup): true}
	var victims []*daemon
	for i, d := range c.nodes {
		if !keep[i] && len(victims) < 2 {
			victims = append(victims, d)
		}
	}
	added := c.add()
	killed := false
	st := c.waitJob(ctx, info.ID, func(st *api.JobStatus) {
		if !killed && st.Committed > 0 {
			for _, d := range victims {
				d.kill()
			}
			killed = true
			t.Logf("killed %d workers at %d/%d units", len(victims), st.Committed, st.Units)
		}
	})
	checkResult(t, st, "temperature_f", bruteForce(readings, fahrenheitBelow(72)))
	if !killed || st.Epoch != 2 {
		t.Fatalf("job ended at epoch %d, workers killed %v; want them killed mid-job under the first manager", st.Epoch, killed)
	}
	if !strings.Contains(added.log.String(), "job unit assigned") {
		t.Errorf("the node started mid-job received no unit")
	}

	// The manager dies: the backup takes over at a higher epoch. The
	// submitter must survive, so it may be neither.
	req = api.JobRequest{Aggregates: []string{"count", "min", "max", "mean"}, By: "sensor,hour",
		SegmentsPerUnit: 1, Reader: jobReader}
	info = c.submit(ctx, req, func(info *api.JobInfo) bool {
		return c.index(info.Manager) <= 0 || c.index(info.Backup) <= 0
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
	checkResult(t, st, "temperature", bruteForce(readings, plainTemperature))
	if killedAt == 0 || st.Epoch <= killedAt {
		t.Fatalf("job ended at epoch %d, manager killed at epoch %d; want the backup's higher epoch", st.Epoch, killedAt)
	}
}

// putModule stores the sandbox's example step in "library" and returns
// its key.
func (c *jobCluster) putModule(ctx context.Context) string {
	wasm, err := os.ReadFile("../job/sandbox/testdata/fahrenheit.wasm")
	if err != nil {
		c.t.Fatal(err)
	}
	key := "jobs/modules/fahrenheit.wasm"
	if _, err := c.nodes[0].client().PutRecord(ctx, "", "library", key, bytes.NewReader(wasm), int64(len(wasm)), "application/wasm"); err != nil {
		c.t.Fatal(err)
	}
	return key
}

// TestJobOnWildcardListen runs nodes that listen on every interface, as
// the default --listen :4717 does. A node must give its peers a routable
// address of its own as a job's manager or backup. Peers drop a job's
// state naming an unspecified address, so a submission then failed when
// the submitter was the backup, and a job ran without a backup when the
// submitter was the manager. The submitter is the manager or the backup
// of at least half of the jobs, so a dozen submissions meet that case.
func TestJobOnWildcardListen(t *testing.T) {
	args := []string{"--listen", ":0", "--api", "127.0.0.1:0", "--discovery-port", "-1"}
	c := startJobClusterWith(t, 3, args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := c.nodes[0].client()
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var readings []sensor.Reading
	for i := range 60 {
		readings = append(readings, sensor.Reading{
			Source: fmt.Sprintf("mote-%d", i%3),
			Time:   start.Add(time.Duration(i) * 3 * time.Minute),
			Fields: []sensor.Field{{Name: "temperature", Value: sensor.Number(20 + float64(i%7))}},
		})
	}
	if _, err := client.WriteReadings(ctx, "", "library", readings); err != nil {
		t.Fatalf("write readings: %v", err)
	}

	req := api.JobRequest{Aggregates: []string{"count"}, SegmentsPerUnit: 1, Reader: jobReader}
	var ids []string
	submitterRoles := 0
	for range 12 {
		info, err := client.SubmitJob(ctx, "", "library", req)
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		ids = append(ids, info.ID)
		if info.Backup == "" || info.Backup == "none" {
			t.Errorf("job %s runs without a backup, manager %s", info.ID, info.Manager)
		}
		if c.index(info.Manager) == 0 || c.index(info.Backup) == 0 {
			submitterRoles++
		}
	}
	if submitterRoles == 0 {
		t.Fatal("the submitter was neither manager nor backup of any job; the test checks nothing")
	}

	for _, id := range ids {
		st := c.waitJob(ctx, id, nil)
		if !st.Done || st.Failed != 0 || st.Committed != st.Units || st.Units == 0 {
			t.Errorf("job %s: %d of %d units committed, %d failed, done %v; want every unit committed",
				id, st.Committed, st.Units, st.Failed, st.Done)
		}
	}
	for _, d := range c.nodes {
		if strings.Contains(d.log.String(), "unroutable address") {
			t.Errorf("%s dropped a message naming an unroutable address", d.name)
		}
	}
}
