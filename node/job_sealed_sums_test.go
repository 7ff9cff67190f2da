package node

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
)

// TestSealedJobStoresSums runs a sealed job by sensor over eight
// sensors. Its eight page sums do not fit one job message, so workers
// store them through the submitter and report references. The means
// must equal the exact decimal means and the plain job's. The job's
// records under he/jobs/ID/ must be deleted once its result is stored.
// The status must then still return the same groups, also once the
// submitter reads them back from the stored result.
func TestSealedJobStoresSums(t *testing.T) {
	nodes, clients := startTrio(t)
	nodes[0].jobs.inputsGrace.Store(int64(0))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	eight, plain := sealEightSensors(ctx, t, clients)

	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "sensor", Reader: "hejobs", Encrypted: true,
		SegmentsPerUnit: 2}
	info, err := clients[0].SubmitJob(ctx, "", "eight", req)
	if err != nil {
		t.Fatal(err)
	}
	sealed := waitJobDone(ctx, t, clients[0], info.ID)
	checkSealedResult(t, "eight by sensor", eight, "sensor", plain, sealed)

	sj := nodes[0].jobs.submittedJob(ctx, info.ID)
	final := nodes[0].jobs.finalStatus(sj)
	refs, err := he.DecodeSumRefs(final.Partial)
	if err != nil {
		t.Fatalf("the job's result is not references to stored sums: %v", err)
	}
	sums := 0
	for _, r := range refs {
		sums += int(r.Sums)
	}
	t.Logf("%d units, %d references to %d stored page sums, result of %d bytes", sealed.Units, len(refs), sums, len(final.Partial))
	if len(refs) != sealed.Units || sums < 8 {
		t.Errorf("%d references to %d sums for %d units over 8 sensors; want one per unit and a sum per sensor at least",
			len(refs), sums, sealed.Units)
	}

	prefix := jobRecordsPrefix(info.ID)
	waitFor(t, "the job's stored sums to be deleted", func() bool {
		infos, err := nodes[0].storage.store.List(ctx, "", "eight", prefix)
		return err == nil && len(infos) == 0
	})
	want, _ := json.Marshal(sealed.Groups)
	for _, forget := range []bool{false, true} {
		if forget {
			nodes[0].jobs.mu.Lock()
			sj.opened = nil
			nodes[0].jobs.mu.Unlock()
		}
		again, err := clients[0].Job(ctx, info.ID)
		if err != nil {
			t.Fatalf("status after the stored sums were deleted (forgotten %v): %v", forget, err)
		}
		if got, _ := json.Marshal(again.Groups); !bytes.Equal(got, want) {
			t.Errorf("groups after the stored sums were deleted (forgotten %v):\n%s\nwant\n%s", forget, got, want)
		}
	}
}

// sealEightSensors writes the readings of the first eight sensors among
// the first 600 readings of R1.txt to the sealed namespace "eight", makes
// the job readers, and runs the plain job by sensor. It returns the
// readings and the plain job's status.
func sealEightSensors(ctx context.Context, t *testing.T, clients []*api.Client) ([]sensor.Reading, *api.JobStatus) {
	t.Helper()
	var eight []sensor.Reading
	chosen := map[string]bool{}
	for _, r := range ulbReadings(t, 600) {
		if len(chosen) < 8 {
			chosen[r.Source] = true
		}
		if chosen[r.Source] {
			eight = append(eight, r)
		}
	}
	if len(chosen) != 8 {
		t.Fatalf("the first 600 readings come from %d sensors, want 8 or more", len(chosen))
	}
	if _, err := clients[0].SealNamespace(ctx, "", "eight", api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].WriteReadings(ctx, "", "eight", eight); err != nil {
		t.Fatal(err)
	}
	encryptedReaders(ctx, t, clients, "eight")

	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "sensor", Reader: "jobs"}
	info, err := clients[0].SubmitJob(ctx, "", "eight", req)
	if err != nil {
		t.Fatal(err)
	}
	return eight, waitJobDone(ctx, t, clients[0], info.ID)
}

// TestSealedJobVerifiesStoredSums runs a sealed job by sensor over eight
// sensors with --verify 2, whose page sums are stored as records. Each
// unit runs on two workers, whose digests must agree, and the result
// keeps both workers' references. Then one node stores a corrupted first
// page sum for every unit it runs, after taking the digest of the true
// sums. Those decrypt to plausible slots with doubled counts. Where its
// reference comes first, the owner must find that the stored sums do
// not match the digest and read the other worker's, so every count is
// the plain job's and every mean the exact decimal mean. Last, all nodes
// corrupt their sums, and the status must fail naming the unit.
func TestSealedJobVerifiesStoredSums(t *testing.T) {
	nodes, clients := startTrio(t)
	nodes[0].jobs.inputsGrace.Store(int64(0))
	params, err := heParams()
	if err != nil {
		t.Fatal(err)
	}
	var faulty [3]atomic.Bool
	var altered atomic.Int64
	for i, n := range nodes {
		n.jobs.alterSum = func(unit uint32, index int, sum []byte) []byte {
			if !faulty[i].Load() || index != 0 {
				return sum
			}
			// The faulty worker stores the sum added to itself. That
			// doubles every count and sum, so the means stay and every
			// check of the decrypted slots passes: only the digest shows
			// that the counts are wrong.
			sums, err := params.DecodePageSums(sum)
			if err != nil {
				t.Error(err)
				return sum
			}
			doubled := he.NewPageAggregator(params, 1)
			for range 2 {
				if err := doubled.AddSums(sums); err != nil {
					t.Error(err)
				}
			}
			out, err := he.EncodePageSums(doubled.Sums())
			if err != nil {
				t.Error(err)
				return sum
			}
			altered.Add(1)
			return out
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	eight, plain := sealEightSensors(ctx, t, clients)
	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "sensor", Reader: "hejobs", Encrypted: true,
		SegmentsPerUnit: 2, Verify: 2}

	// run runs the job and returns its status and its references by unit.
	run := func(name string) (*api.JobStatus, map[uint32][]he.SumRef) {
		info, err := clients[0].SubmitJob(ctx, "", "eight", req)
		if err != nil {
			t.Fatal(err)
		}
		sealed := waitJobDone(ctx, t, clients[0], info.ID)
		checkSealedResult(t, name, eight, "sensor", plain, sealed)
		final := nodes[0].jobs.finalStatus(nodes[0].jobs.submittedJob(ctx, info.ID))
		refs, err := he.DecodeSumRefs(final.Partial)
		if err != nil {
			t.Fatalf("%s: the job's result is not references to stored sums: %v", name, err)
		}
		units := map[uint32][]he.SumRef{}
		for _, r := range refs {
			units[r.Unit] = append(units[r.Unit], r)
		}
		return sealed, units
	}

	sealed, units := run("eight by sensor, verify 2")
	if len(units) != sealed.Units {
		t.Errorf("references to %d units, the job has %d", len(units), sealed.Units)
	}
	for unit, refs := range units {
		if len(refs) != 2 || refs[0].Node == refs[1].Node {
			t.Errorf("unit %d has %d references, want one from each of two workers: %+v", unit, len(refs), refs)
			continue
		}
		if refs[0].Digest == [he.DigestSize]byte{} || refs[0].Digest != refs[1].Digest {
			t.Errorf("unit %d references carry digests %x and %x, want one digest", unit, refs[0].Digest, refs[1].Digest)
		}
	}

	// Which worker's report arrives first decides whose reference comes
	// first, so the job runs until the faulty node's does for some unit.
	faulty[2].Store(true)
	bad := [he.NodeIDSize]byte(nodes[2].ID())
	for try := 1; ; try++ {
		_, units := run("eight by sensor, verify 2, one faulty worker")
		first := 0
		for _, refs := range units {
			if refs[0].Node == bad {
				first++
			}
		}
		t.Logf("try %d: the faulty node altered %d sums so far; its reference comes first in %d of %d units",
			try, altered.Load(), first, len(units))
		if first > 0 {
			break
		}
		if try == 5 {
			t.Fatal("in five jobs the faulty node's reference never came first, so no mismatch was tested")
		}
	}

	faulty[0].Store(true)
	faulty[1].Store(true)
	info, err := clients[0].SubmitJob(ctx, "", "eight", req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := clients[0].Job(ctx, info.ID)
		if err != nil {
			if !strings.Contains(err.Error(), "no stored page sums of unit") || !strings.Contains(err.Error(), "digest") {
				t.Errorf("status with every worker faulty: error %v, want one naming the unit and the digest", err)
			}
			break
		}
		if st.Done {
			t.Fatalf("job with every worker faulty returned %d groups and no error", len(st.Groups))
		}
		select {
		case <-ctx.Done():
			t.Fatal("job with every worker faulty did not end")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestStoredSumsSurviveManagerLoss runs a sealed job by sensor, whose
// page sums are stored, on four nodes. It kills the manager, never the
// submitter, once the backup holds a few commits. The backup takes over,
// and units whose commits it never saw run again and store their sums a
// second time under other keys. Every mean must still equal the exact
// decimal mean, so no sum counted twice or went missing.
func TestStoredSumsSurviveManagerLoss(t *testing.T) {
	base := t.TempDir()
	first := startLocal(t, filepath.Join(base, "a"))
	nodes := []*Node{first}
	for _, dir := range []string{"b", "c", "d"} {
		nodes = append(nodes, startLocal(t, filepath.Join(base, dir), first.Addr().String()))
	}
	var clients []*api.Client
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 3 others", func() bool { return len(n.Peers()) == 3 })
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	nodes[0].jobs.inputsGrace.Store(int64(5 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var eight []sensor.Reading
	chosen := map[string]bool{}
	for _, r := range ulbReadings(t, 2000) {
		if len(chosen) < 8 {
			chosen[r.Source] = true
		}
		if chosen[r.Source] {
			eight = append(eight, r)
		}
	}
	if _, err := clients[0].SealNamespace(ctx, "", "eight", api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].WriteReadings(ctx, "", "eight", eight); err != nil {
		t.Fatal(err)
	}
	encryptedReaders(ctx, t, clients, "eight")
	aggs := []string{"count", "sum", "mean"}
	info, err := clients[0].SubmitJob(ctx, "", "eight", api.JobRequest{Aggregates: aggs, By: "sensor", Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	plain := waitJobDone(ctx, t, clients[0], info.ID)

	// The manager is picked by the job's ID, so a job whose manager is
	// the submitter, which must stay up to store the sums, is canceled
	// and submitted again.
	req := api.JobRequest{Aggregates: aggs, By: "sensor", Reader: "hejobs", Encrypted: true, SegmentsPerUnit: 1}
	var manager *Node
	for try := 0; manager == nil; try++ {
		if try == 8 {
			t.Fatal("eight jobs in a row were managed by the submitting node")
		}
		if info, err = clients[0].SubmitJob(ctx, "", "eight", req); err != nil {
			t.Fatal(err)
		}
		id := nodes[0].jobs.submittedJob(ctx, info.ID).manager.ID
		for _, n := range nodes[1:] {
			if n.ID() == id {
				manager = n
			}
		}
		if manager == nil {
			if _, err := clients[0].CancelJob(ctx, info.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The kill comes once the backup holds a replica with a few commits,
	// while the manager has likely committed more that it has not sent.
	sj := nodes[0].jobs.submittedJob(ctx, info.ID)
	var backup *Node
	for _, n := range nodes {
		if sj.backup != nil && n.ID() == sj.backup.ID {
			backup = n
		}
	}
	if backup == nil {
		t.Fatal("the job has no backup")
	}
	var replicated int
	var killedEpoch uint64
	for deadline := time.Now().Add(time.Minute); replicated < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup holds %d commits after a minute, want 3", replicated)
		}
		replicated, killedEpoch = backupCommits(backup, info.ID)
	}
	manager.Kill()
	t.Logf("killed manager %s of job %s at epoch %d, its backup holding %d commits", manager.ID().Short(), info.ID, killedEpoch, replicated)

	sealed := waitJobDone(ctx, t, clients[0], info.ID)
	if sealed.Failed != 0 || sealed.Committed != sealed.Units {
		t.Fatalf("after the manager's loss %d of %d units committed, %d failed; want all committed", sealed.Committed, sealed.Units, sealed.Failed)
	}
	checkSealedResult(t, "eight by sensor after manager loss", eight, "sensor", plain, sealed)
	final := nodes[0].jobs.finalStatus(nodes[0].jobs.submittedJob(ctx, info.ID))
	refs, err := he.DecodeSumRefs(final.Partial)
	if err != nil {
		t.Fatalf("the job's result is not references to stored sums: %v", err)
	}
	epochs := map[uint64]int{}
	for _, r := range refs {
		epochs[r.Epoch]++
	}
	stored := 0
	for _, r := range refs {
		stored += int(r.Sums)
	}
	infos, err := nodes[0].storage.store.List(ctx, "", "eight", jobRecordsPrefix(info.ID))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d units, references by manager epoch %v, %d sums referenced of %d stored", sealed.Units, epochs, stored, len(infos))
	if epochs[killedEpoch] < replicated {
		t.Errorf("%d references from epoch %d, want the %d commits the backup held", epochs[killedEpoch], killedEpoch, replicated)
	}
	if epochs[killedEpoch+1] == 0 {
		t.Errorf("no unit committed after the takeover from epoch %d, so the test did not kill the manager mid-job", killedEpoch)
	}
	waitWithin(t, "the job's stored sums to be deleted", time.Minute, func() bool {
		infos, err := nodes[0].storage.store.List(ctx, "", "eight", jobRecordsPrefix(info.ID))
		return err == nil && len(infos) == 0
	})
}

// backupCommits returns how many committed units the backup of job id on
// n holds in its last replica, and that replica's epoch, or zeros when n
// does not back the job up.
func backupCommits(n *Node, id string) (int, uint64) {
	n.jobs.mu.Lock()
	mj := n.jobs.managed[id]
	n.jobs.mu.Unlock()
	if mj == nil {
		return 0, 0
	}
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if mj.role != wire.JobBackup || mj.snap == nil {
		return 0, 0
	}
	return len(mj.snap.Committed), mj.epoch
}

// FuzzDecodeOpenedResult checks that no input crashes the decoder of a
// stored decrypted result and that whatever it accepts stores back as
// the same groups.
func FuzzDecodeOpenedResult(f *testing.F) {
	mean := 21.5
	start := time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC)
	good, err := json.Marshal([]api.AggregateGroup{{Sensor: "R1", Start: &start, Count: 2,
		Fields: map[string]api.FieldStats{"temperature": {Count: 2, Mean: &mean}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("[]"))
	f.Add([]byte("null"))
	f.Add([]byte(`[{"count":-1}]`))

	f.Fuzz(func(t *testing.T, b []byte) {
		groups, err := decodeOpenedResult(b)
		if err != nil {
			return
		}
		if groups == nil {
			t.Fatal("accepted result decodes to nil groups, which reads as not opened")
		}
		again, err := json.Marshal(groups)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeOpenedResult(again); err != nil {
			t.Fatalf("accepted result does not decode once stored again: %v", err)
		}
	})
}

func TestSortBySource(t *testing.T) {
	a, b := "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	keys := []string{
		sealedSegmentPrefix + "2006-11-13T17/" + b + "-01",
		sealedSegmentPrefix + "2006-11-13T17/" + a + "-02",
		sealedSegmentPrefix + "2006-11-13T17/" + a + "-01",
		sealedSegmentPrefix + "2006-11-13T18/" + b + "-01",
		sealedSegmentPrefix + "2006-11-13T18/" + a + "-01",
	}
	sortBySource(keys)
	want := []string{
		sealedSegmentPrefix + "2006-11-13T17/" + a + "-01",
		sealedSegmentPrefix + "2006-11-13T17/" + a + "-02",
		sealedSegmentPrefix + "2006-11-13T18/" + a + "-01",
		sealedSegmentPrefix + "2006-11-13T17/" + b + "-01",
		sealedSegmentPrefix + "2006-11-13T18/" + b + "-01",
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("key %d is %s, want %s", i, keys[i], want[i])
		}
	}
}
