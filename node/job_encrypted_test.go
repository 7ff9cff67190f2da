package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// encryptedReadings is how many readings of R1.txt the encrypted job
// test aggregates: the first 1,500 span 19 sensors over two hours, which
// gives 38 groups to compare, while each segment costs a 256 KiB
// ciphertext record. Under the race detector the first 600 (19 groups)
// keep the test under half a minute.
func encryptedReadings() int {
	if raceEnabled {
		return 600
	}
	return 1500
}

// encryptedReaders creates on every node a user "jobs" with read access
// to the whole namespace and a user "hejobs" with read access to the
// ciphertext records alone.
func encryptedReaders(ctx context.Context, t *testing.T, clients []*api.Client, ns string) {
	t.Helper()
	for _, c := range clients {
		for name, scope := range map[string]string{"jobs": "", "hejobs": sealedPrefix} {
			u, err := c.CreateUser(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			g := api.Grant{KeyOrPrefix: scope, User: name, PublicKeys: u.PublicKeys, Right: api.RightRead}
			if err := clients[0].Grant(ctx, "", ns, g); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestEncryptedJobMatchesPlain runs the mean temperature per sensor and
// hour of the ULB file R1.txt as a plain job and as an encrypted job on
// three nodes over real QUIC and Pebble. The encrypted job's workers
// read as a user granted only the ciphertext records. The test checks
// that both jobs agree exactly, that the records a worker reads hold no
// plaintext value, and that no worker node holds a BGV secret key.
func TestEncryptedJobMatchesPlain(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	encryptedReaders(ctx, t, clients, "library")
	all := ulbReadings(t, encryptedReadings())
	began := time.Now()
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	t.Logf("wrote %d readings in %v", len(all), time.Since(began))

	aggs := []string{"count", "sum", "mean"}
	req := api.JobRequest{Aggregates: aggs, By: "sensor,hour", SegmentsPerUnit: 4, Reader: "jobs"}
	info, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	plain := waitJobDone(ctx, t, clients[0], info.ID)
	t.Logf("plain job: %d units in %v", plain.Units, time.Since(began))

	req.Encrypted, req.Reader = true, "hejobs"
	began = time.Now()
	info, err = clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encrypted job submitted in %v", time.Since(began))
	sealed := waitJobDone(ctx, t, clients[0], info.ID)
	t.Logf("encrypted job: %d units in %v", sealed.Units, time.Since(began))

	checkEncryptedResult(t, all, plain, sealed)
	checkWorkerBytes(ctx, t, nodes, info.ID, all)
	checkAssignments(t, nodes, info.ID, all)
	checkSecretKeys(ctx, t, nodes)
}

// checkAssignments checks what the manager hands each worker of the
// encrypted job: the job's spec and units that name ciphertext records of
// this job only, with no reading's value in the spec's bytes.
func checkAssignments(t *testing.T, nodes []*Node, id string, readings []sensor.Reading) {
	t.Helper()
	var snap *sched.Snapshot
	var spec []byte
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
	if snap == nil {
		t.Fatalf("no node manages job %s", id)
	}

	keys := 0
	for _, u := range snap.Units {
		for _, seg := range u.Segments {
			if !strings.HasPrefix(seg.Key, sealedPrefix+"jobs/"+id+"/") {
				t.Errorf("unit %d names record %q, want a ciphertext under %sjobs/%s/", u.ID, seg.Key, sealedPrefix, id)
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

// checkEncryptedResult compares an encrypted job's groups with the plain
// job's and with the exact decimal means of the readings.
func checkEncryptedResult(t *testing.T, readings []sensor.Reading, plain, sealed *api.JobStatus) {
	t.Helper()
	if len(sealed.Groups) != len(plain.Groups) || len(plain.Groups) < 19 {
		t.Fatalf("encrypted job returned %d groups, the plain job %d; want equal and at least 19",
			len(sealed.Groups), len(plain.Groups))
	}
	decimal := decimalMeans(readings)
	compared, sameBits := 0, 0
	for i, g := range sealed.Groups {
		p := plain.Groups[i]
		key := groupName(g)
		if key != groupName(p) || g.Count != p.Count || len(g.Fields) != len(p.Fields) {
			t.Fatalf("group %d: %s with %d readings and %d fields; plain job: %s with %d and %d",
				i, key, g.Count, len(g.Fields), groupName(p), p.Count, len(p.Fields))
		}
		for name, f := range g.Fields {
			pf := p.Fields[name]
			if f.Count != pf.Count || f.Mean == nil || f.Sum == nil {
				t.Fatalf("group %s field %s: count %d, mean %v; plain job: count %d", key, name, f.Count, f.Mean, pf.Count)
			}
			// The file writes two decimals. The encrypted job sums them
			// exactly at scale 100, so its mean is the exact decimal mean
			// rounded once. The plain job sums the nearest float64 of each
			// decimal, which can move its mean by an ulp or two.
			want, _ := decimal[key+"/"+name].Float64()
			if *f.Mean != want {
				t.Errorf("group %s field %s: encrypted mean %v, exact decimal mean %v", key, name, *f.Mean, want)
			}
			if math.Abs(*f.Mean-*pf.Mean) > 1e-14*math.Abs(*pf.Mean) || math.Abs(*f.Sum-*pf.Sum) > 1e-14*math.Abs(*pf.Sum) {
				t.Errorf("group %s field %s: encrypted mean %v sum %v, plain mean %v sum %v",
					key, name, *f.Mean, *f.Sum, *pf.Mean, *pf.Sum)
			}
			if *f.Mean == *pf.Mean {
				sameBits++
			}
			compared++
		}
	}
	if compared < 100 {
		t.Errorf("only %d group fields compared", compared)
	}
	t.Logf("%d group fields compared; %d encrypted means equal the plain job's to the bit", compared, sameBits)
}

func groupName(g api.AggregateGroup) string {
	if g.Start == nil {
		return g.Sensor
	}
	return g.Sensor + "@" + g.Start.UTC().Format(time.RFC3339)
}

// decimalMeans returns the mean of every field per sensor and hour over
// the values as the file writes them, two decimals, computed exactly.
func decimalMeans(readings []sensor.Reading) map[string]*big.Rat {
	sums := make(map[string]*big.Rat)
	counts := make(map[string]int64)
	for _, r := range readings {
		start := r.Time.UTC().Truncate(time.Hour)
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			key := groupName(api.AggregateGroup{Sensor: r.Source, Start: &start}) + "/" + f.Name
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

// checkWorkerBytes reads every ciphertext record of the job the way a
// worker does, as the reader granted only he/, and checks that none
// holds a reading's value in any fixed-width encoding, and that the same
// reader cannot open a plaintext segment.
func checkWorkerBytes(ctx context.Context, t *testing.T, nodes []*Node, id string, readings []sensor.Reading) {
	t.Helper()
	worker := nodes[1]
	spec := &job.Spec{ID: id, Namespace: "library", Reader: "hejobs", Encrypted: true}
	infos, err := worker.storage.store.List(ctx, "hejobs", "library", sealedPrefix+"jobs/"+id+"/")
	if err != nil || len(infos) < 19 {
		t.Fatalf("list the job's ciphertexts as hejobs: %d records, %v; want one per segment", len(infos), err)
	}
	var keys []string
	for _, info := range infos {
		keys = append(keys, info.Key)
	}
	records, err := worker.jobs.readSealedUnit(ctx, spec, keys)
	if err != nil {
		t.Fatal(err)
	}
	params, err := he.NewParams()
	if err != nil {
		t.Fatal(err)
	}
	patterns := valuePatterns(readings)
	for i, b := range records {
		if len(b) != params.CiphertextSize() {
			t.Fatalf("record %s is %d bytes, a ciphertext %d", keys[i], len(b), params.CiphertextSize())
		}
		for p := range patterns {
			if bytes.Contains(b, []byte(p)) {
				t.Fatalf("record %s contains the bytes %x of a reading's value", keys[i], p)
			}
		}
	}

	plain, err := nodes[0].search.querier.SegmentKeys(ctx, "", search.Query{Namespace: "library"})
	if err != nil || len(plain) == 0 {
		t.Fatalf("segment keys: %v, %v", plain, err)
	}
	var b bytes.Buffer
	if _, err := worker.storage.store.Get(ctx, "hejobs", "library", plain[0], &b, store.GetOptions{}); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("hejobs read plaintext segment %s: error %v, want ErrForbidden", plain[0], err)
	}
	if _, err := worker.jobs.readSealedUnit(ctx, spec, plain[:1]); err == nil || !strings.Contains(err.Error(), "outside he/") {
		t.Errorf("a unit naming a plaintext segment: error %v, want it rejected before the read", err)
	}
}

// valuePatterns returns, for every number in readings, its float64 and
// its value at scale 100 as int64, little- and big-endian.
func valuePatterns(readings []sensor.Reading) map[string]bool {
	out := make(map[string]bool)
	for _, r := range readings {
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			for _, x := range []uint64{math.Float64bits(v), uint64(int64(math.Round(v * 100)))} {
				out[string(binary.LittleEndian.AppendUint64(nil, x))] = true
				out[string(binary.BigEndian.AppendUint64(nil, x))] = true
			}
		}
	}
	return out
}

// checkSecretKeys checks that only the submitting node holds a BGV key
// file, and that the public key published in the namespace is its own.
func checkSecretKeys(ctx context.Context, t *testing.T, nodes []*Node) {
	t.Helper()
	for i, n := range nodes {
		found, err := filepath.Glob(filepath.Join(n.cfg.DataDir, "users", "*"+ownerKeySuffix))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(found) != 1 {
			t.Errorf("submitting node holds BGV key files %v, want one", found)
		}
		if i > 0 && len(found) != 0 {
			t.Errorf("worker node %d holds BGV key files %v, want none", i, found)
		}
	}
	owner, err := nodes[0].loadOwnerKey(store.DefaultUser)
	if err != nil {
		t.Fatal(err)
	}
	want, err := owner.PublicKey().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := nodes[1].storage.store.Get(ctx, "hejobs", "library", sealedPrefix+"keys/default", &got, store.GetOptions{}); err != nil {
		t.Fatalf("read the published public key as hejobs: %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Error("the published public key differs from the owner's")
	}
}

// TestEncryptedJobRejects checks the jobs an encrypted run refuses
// before any unit runs: one whose sums could exceed the plaintext
// modulus, one with values finer than its scale, and one asking for an
// aggregate that additions cannot compute.
func TestEncryptedJobRejects(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var readings []sensor.Reading
	for i := range 200 {
		readings = append(readings, sensor.Reading{Source: "meter", Time: start.Add(time.Duration(i) * time.Minute),
			Fields: []sensor.Field{{Name: "energy", Value: sensor.Number(1e9)}, {Name: "fine", Value: sensor.Number(0.125)}}})
	}
	if _, err := clients[0].WriteReadings(ctx, "", "meters", readings); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		req  api.JobRequest
		want string
	}{
		{"overflow", api.JobRequest{Aggregates: []string{"sum"}, Encrypted: true, Scale: 1000},
			"sum may exceed the plaintext modulus"},
		{"too fine", api.JobRequest{Aggregates: []string{"mean"}, Encrypted: true, Scale: 10}, "more decimals than scale 10"},
		{"min", api.JobRequest{Aggregates: []string{"min"}, Encrypted: true}, "cannot run encrypted"},
	} {
		_, err := clients[0].SubmitJob(ctx, "", "meters", c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestEncryptedJobSurvivesRestart runs an encrypted job, restarts all
// three nodes, and checks that the submitting node decrypts the stored
// result to the same groups as before, from the layout in the job's
// record.
func TestEncryptedJobSurvivesRestart(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	nodes, clients := startTrioIn(t, dirs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	encryptedReaders(ctx, t, clients, "library")
	all := ulbReadings(t, 300)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "sensor,hour", Reader: "hejobs", Encrypted: true}
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
	waitFor(t, "the job's result and layout in its record", func() bool {
		var b bytes.Buffer
		if _, err := nodes[0].storage.store.Get(ctx, "", ns, jobRecordPrefix+info.ID, &b, store.GetOptions{}); err != nil {
			return false
		}
		rec, _, err := job.DecodeRecord(b.Bytes())
		return err == nil && rec.Final != nil && rec.Final.Done && len(rec.Final.Partial) > 0 && len(rec.Layout) > 0
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
	decimal := decimalMeans(all)
	for _, g := range after.Groups {
		for name, f := range g.Fields {
			if want, _ := decimal[groupName(g)+"/"+name].Float64(); f.Mean == nil || *f.Mean != want {
				t.Errorf("after restart group %s field %s: mean %v, exact decimal mean %v", groupName(g), name, f.Mean, want)
			}
		}
	}
}
