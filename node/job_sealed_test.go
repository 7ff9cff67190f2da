package node

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// sealedReadings is how many readings of R1.txt the sealed job test
// writes; like encryptedReadings, fewer under the race detector.
func sealedReadings() int {
	if raceEnabled {
		return 600
	}
	return 1500
}

// TestSealedJobMatchesPlain seals two namespaces, writes R1.txt readings
// to them through a three-node cluster, and runs encrypted jobs over the
// ciphertexts stored at ingest next to the same plain jobs: by hour and
// with no grouping over all sensors, and by sensor and hour and by
// sensor over three sensors. Every encrypted mean must equal the exact
// decimal mean, no node may read a plaintext segment during the
// encrypted jobs, and the units workers get name ciphertext records
// whose bytes hold no reading's value.
func TestSealedJobMatchesPlain(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	all := ulbReadings(t, sealedReadings())
	var three []sensor.Reading
	chosen := map[string]bool{}
	for _, r := range all {
		if len(chosen) < 3 {
			chosen[r.Source] = true
		}
		if chosen[r.Source] {
			three = append(three, r)
		}
	}
	for ns, readings := range map[string][]sensor.Reading{"library": all, "three": three} {
		if _, err := clients[0].SealNamespace(ctx, "", ns, api.SealRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := clients[0].WriteReadings(ctx, "", ns, readings); err != nil {
			t.Fatal(err)
		}
	}
	encryptedReaders(ctx, t, clients, "library")
	grantReaders(ctx, t, clients, "three")

	aggs := []string{"count", "sum", "mean"}
	cases := []struct {
		ns, by   string
		readings []sensor.Reading
	}{
		{"library", "hour", all},
		{"library", "", all},
		{"three", "sensor,hour", three},
		{"three", "sensor", three},
	}
	plain := make([]*api.JobStatus, len(cases))
	for i, c := range cases {
		info, err := clients[0].SubmitJob(ctx, "", c.ns, api.JobRequest{Aggregates: aggs, By: c.by, Reader: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		plain[i] = waitJobDone(ctx, t, clients[0], info.ID)
	}

	readBefore := segmentsRead(nodes)
	for i, c := range cases {
		began := time.Now()
		info, err := clients[0].SubmitJob(ctx, "", c.ns, api.JobRequest{Aggregates: aggs, By: c.by, Reader: "hejobs", Encrypted: true})
		if err != nil {
			t.Fatalf("%s by %q: %v", c.ns, c.by, err)
		}
		checkSealedUnits(t, nodes, info.ID, c.readings)
		sealed := waitJobDone(ctx, t, clients[0], info.ID)
		t.Logf("%s by %q: %d units in %v", c.ns, c.by, sealed.Units, time.Since(began))
		checkSealedResult(t, c.ns+" by "+c.by, c.readings, c.by, plain[i], sealed)
	}
	t.Logf("plaintext segments read per node before the encrypted jobs: %v", readBefore)
	if after := segmentsRead(nodes); !slices.Equal(after, readBefore) {
		t.Errorf("segments read per node went from %v to %v during the encrypted jobs, want no read", readBefore, after)
	}
	checkSealedRecords(ctx, t, nodes[0], nodes[1], "three", three)

	_, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, By: "hour", Encrypted: true, Reader: "nobody"})
	if err == nil || !strings.Contains(err.Error(), "yui user create nobody") {
		t.Errorf("encrypted job with an unknown reader: error %v, want one naming the fix", err)
	}
	from := all[0].Time.Add(time.Minute)
	_, err = clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, Encrypted: true, Query: api.QueryRequest{From: &from}})
	if err == nil || !strings.Contains(err.Error(), "not on the hour") {
		t.Errorf("encrypted job from a time off the hour: error %v, want one naming it", err)
	}
	_, err = clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, Encrypted: true,
		Query: api.QueryRequest{Where: []api.Condition{{Field: "temperature", Op: ">", Value: []byte("20")}}}})
	if err == nil || !strings.Contains(err.Error(), "cannot test values") {
		t.Errorf("encrypted job with a value condition: error %v, want it rejected", err)
	}
}

// grantReaders grants the users that encryptedReaders created the same
// access to another namespace.
func grantReaders(ctx context.Context, t *testing.T, clients []*api.Client, ns string) {
	t.Helper()
	for _, c := range clients {
		users, err := c.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			scope, ok := map[string]string{"jobs": "", "hejobs": sealedPrefix}[u.Name]
			if !ok {
				continue
			}
			g := api.Grant{KeyOrPrefix: scope, User: u.Name, PublicKeys: u.PublicKeys, Right: api.RightRead}
			if err := clients[0].Grant(ctx, "", ns, g); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// segmentsRead returns how many plaintext segments each node has read.
func segmentsRead(nodes []*Node) []int64 {
	out := make([]int64, len(nodes))
	for i, n := range nodes {
		out[i] = n.search.querier.SegmentsRead()
	}
	return out
}

// checkSealedUnits checks what the manager of a sealed job hands its
// workers: units naming only ciphertext records under he/seg/, and a
// spec whose bytes contain no reading's value.
func checkSealedUnits(t *testing.T, nodes []*Node, id string, readings []sensor.Reading) {
	t.Helper()
	var snap *sched.Snapshot
	var spec []byte
	waitFor(t, "a manager of job "+id, func() bool {
		for _, n := range nodes {
			n.jobs.mu.Lock()
			mj := n.jobs.managed[id]
			n.jobs.mu.Unlock()
			if mj == nil {
				continue
			}
			mj.mu.Lock()
			if mj.role == wire.JobManager && mj.machine != nil {
				snap, spec = mj.machine.Snapshot(), mj.specBytes
			}
			mj.mu.Unlock()
		}
		return snap != nil
	})
	keys := 0
	for _, u := range snap.Units {
		for _, seg := range u.Segments {
			if !strings.HasPrefix(seg.Key, sealedSegmentPrefix) {
				t.Errorf("unit %d names record %q, want a ciphertext under %s", u.ID, seg.Key, sealedSegmentPrefix)
			}
			keys++
		}
	}
	if keys == 0 {
		t.Error("the job's units name no record")
	}
	for p := range valuePatterns(readings) {
		if bytes.Contains(spec, []byte(p)) {
			t.Fatalf("the spec sent to workers contains the bytes %x of a reading's value", p)
		}
	}
}

// checkSealedRecords reads every ciphertext record of ns as a worker
// does, as the reader granted only he/. Its header must contain the
// source hash, hour, page, field names, scale and bound alone, and its
// ciphertext no reading's value in any fixed-width encoding. The same
// reader must not open a plaintext segment or a sensor's name record.
func checkSealedRecords(ctx context.Context, t *testing.T, owner, worker *Node, ns string, readings []sensor.Reading) {
	t.Helper()
	infos, err := worker.storage.store.List(ctx, "hejobs", ns, sealedSegmentPrefix)
	if err != nil || len(infos) == 0 {
		t.Fatalf("list the ciphertexts as hejobs: %d records, %v", len(infos), err)
	}
	spec := &job.Spec{ID: "check", Namespace: ns, Reader: "hejobs", Encrypted: true}
	var keys []string
	for _, info := range infos {
		keys = append(keys, info.Key)
	}
	records, err := worker.jobs.readSealedUnit(ctx, spec, keys)
	if err != nil {
		t.Fatal(err)
	}
	params, err := heParams()
	if err != nil {
		t.Fatal(err)
	}
	patterns := valuePatterns(readings)
	for i, b := range records {
		h, _, err := params.DecodeSegmentRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		hour, source, _ := search.ParseSegmentKey("readings/" + strings.TrimPrefix(keys[i], sealedSegmentPrefix))
		if h.Source != source || h.Hour != hour || h.Scale != 100 || h.Bound != defaultSealBound {
			t.Errorf("record %s: header %+v, want source %s hour %d scale 100 bound %d", keys[i], h, source, hour, defaultSealBound)
		}
		if i == 0 {
			t.Logf("record %s: header fields %v, page %d", keys[i], h.Fields, h.Page)
		}
		names := strings.Join(h.Fields, "\x00")
		header := len(b) - params.CiphertextSize()
		if want := 1 + 8 + 4*8 + 2 + len(h.Fields) + len(names) - max(len(h.Fields)-1, 0); header != want {
			t.Errorf("record %s: header of %d bytes, want %d for its fields %v alone", keys[i], header, want, h.Fields)
		}
		for p := range patterns {
			if bytes.Contains(b[header:], []byte(p)) {
				t.Fatalf("record %s contains the bytes %x of a reading's value", keys[i], p)
			}
		}
	}
	plain, err := owner.storage.store.List(ctx, "", ns, "readings/")
	if err != nil || len(plain) == 0 {
		t.Fatalf("list segments: %d, %v", len(plain), err)
	}
	var b bytes.Buffer
	for _, key := range []string{plain[0].Key, sourceNamePrefix + search.SourceHash(readings[0].Source)} {
		if _, err := worker.storage.store.Get(ctx, "hejobs", ns, key, &b, store.GetOptions{}); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("hejobs read %s: error %v, want permission denied", key, err)
		}
	}
}

// checkSealedResult compares a sealed job's groups with the plain job's
// and with the exact decimal means of the readings under grouping by.
func checkSealedResult(t *testing.T, name string, readings []sensor.Reading, by string, plain, sealed *api.JobStatus) {
	t.Helper()
	if len(sealed.Groups) != len(plain.Groups) || len(plain.Groups) == 0 {
		t.Fatalf("%s: encrypted job returned %d groups, the plain job %d", name, len(sealed.Groups), len(plain.Groups))
	}
	decimal := decimalMeansBy(t, readings, by)
	compared := 0
	for i, g := range sealed.Groups {
		p := plain.Groups[i]
		key := groupName(g)
		if key != groupName(p) || g.Count != p.Count || len(g.Fields) != len(p.Fields) {
			t.Fatalf("%s group %d: %s with %d readings and %d fields; plain job: %s with %d and %d",
				name, i, key, g.Count, len(g.Fields), groupName(p), p.Count, len(p.Fields))
		}
		for field, f := range g.Fields {
			pf := p.Fields[field]
			if f.Count != pf.Count || f.Mean == nil || f.Sum == nil {
				t.Fatalf("%s group %s field %s: count %d, mean %v; plain job: count %d", name, key, field, f.Count, f.Mean, pf.Count)
			}
			want, _ := decimal[key+"/"+field].Float64()
			if *f.Mean != want {
				t.Errorf("%s group %s field %s: encrypted mean %v, exact decimal mean %v", name, key, field, *f.Mean, want)
			}
			if math.Abs(*f.Mean-*pf.Mean) > 1e-14*math.Abs(*pf.Mean) {
				t.Errorf("%s group %s field %s: encrypted mean %v, plain mean %v", name, key, field, *f.Mean, *pf.Mean)
			}
			compared++
		}
	}
	if compared < len(sealed.Groups) {
		t.Errorf("%s: only %d group fields compared", name, compared)
	}
}

// decimalMeansBy returns the exact mean of every field per group of by
// over the values as the file writes them, two decimals.
func decimalMeansBy(t *testing.T, readings []sensor.Reading, by string) map[string]*big.Rat {
	t.Helper()
	spec := job.Spec{By: by}
	grouping := spec.Grouping()
	sums := make(map[string]*big.Rat)
	counts := make(map[string]int64)
	for _, r := range readings {
		_, source, start := job.GroupOf(&r, grouping)
		g := api.AggregateGroup{Sensor: source}
		if grouping.Time != search.All {
			s := time.Unix(start, 0).UTC()
			g.Start = &s
		}
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			key := groupName(g) + "/" + f.Name
			if sums[key] == nil {
				sums[key] = new(big.Rat)
			}
			sums[key].Add(sums[key], big.NewRat(int64(math.Round(v*100)), 100))
			counts[key]++
		}
	}
	for key, s := range sums {
		s.Quo(s, new(big.Rat).SetInt64(counts[key]))
	}
	return sums
}

// TestSealedJobSurvivesRestart runs an encrypted job over a sealed
// namespace, restarts all three nodes, and checks that the submitting
// node decrypts the job's stored result to the same groups, with no
// layout in the record.
func TestSealedJobSurvivesRestart(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	nodes, clients := startTrioIn(t, dirs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := clients[0].SealNamespace(ctx, "", "library", api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	encryptedReaders(ctx, t, clients, "library")
	all := ulbReadings(t, 300)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "hour", Reader: "hejobs", Encrypted: true}
	info, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	before := waitJobDone(ctx, t, clients[0], info.ID)
	if len(before.Groups) == 0 {
		t.Fatal("encrypted job returned no groups")
	}
	ns, err := nodes[0].jobRecordsNamespace("")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job's result in its record", func() bool {
		var b bytes.Buffer
		if _, err := nodes[0].storage.store.Get(ctx, "", ns, jobRecordPrefix+info.ID, &b, store.GetOptions{}); err != nil {
			return false
		}
		rec, _, err := job.DecodeRecord(b.Bytes())
		return err == nil && rec.Final != nil && rec.Final.Done && len(rec.Final.Partial) > 0 && len(rec.Layout) == 0
	})

	for _, n := range nodes {
		n.Close()
	}
	_, clients = startTrioIn(t, dirs)
	var after *api.JobStatus
	waitFor(t, "the restarted node to return the job's status", func() bool {
		after, err = clients[0].Job(ctx, info.ID)
		return err == nil
	})
	wantJSON, _ := json.Marshal(before)
	gotJSON, _ := json.Marshal(after)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("status after restart:\n%s\nwant the status before:\n%s", gotJSON, wantJSON)
	}
	decimal := decimalMeansBy(t, all, "hour")
	for _, g := range after.Groups {
		for name, f := range g.Fields {
			if want, _ := decimal[groupName(g)+"/"+name].Float64(); f.Mean == nil || *f.Mean != want {
				t.Errorf("after restart group %s field %s: mean %v, exact decimal mean %v", groupName(g), name, f.Mean, want)
			}
		}
	}
}
