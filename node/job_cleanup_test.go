package node

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/storage/store"
)

// jobRecordOf reads the stored record of job id, submitted by the
// default user of n.
func jobRecordOf(ctx context.Context, t *testing.T, n *Node, id string) *job.Record {
	t.Helper()
	ns, err := n.jobRecordsNamespace("")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := n.storage.store.Get(ctx, "", ns, jobRecordPrefix+id, &b, store.GetOptions{}); err != nil {
		return nil
	}
	rec, _, err := job.DecodeRecord(b.Bytes())
	if err != nil {
		t.Fatalf("record of job %s: %v", id, err)
	}
	return rec
}

// countJobRecords returns how many records job id keeps under its prefix
// in namespace, or -1 if they cannot be listed.
func countJobRecords(ctx context.Context, n *Node, namespace, id string) int {
	infos, err := n.storage.store.List(ctx, "", namespace, jobRecordsPrefix(id))
	if err != nil {
		return -1
	}
	return len(infos)
}

// restartFirst closes nodes[0] and starts it again from dir, joining
// through nodes[1], and waits until its routing table lists the two
// others. The restarted node deletes a job's records as soon as it stored
// the result.
func restartFirst(t *testing.T, nodes []*Node, dir string) (*Node, *api.Client) {
	t.Helper()
	nodes[0].Close()
	n := startLocal(t, dir, nodes[1].Addr().String())
	n.jobs.inputsGrace.Store(0)
	waitFor(t, "the restarted node to know the 2 others", func() bool { return len(n.Peers()) == 2 })
	return n, api.NewClient(n.APIAddr())
}

// TestRestartDeletesStoredSums ends a sealed job whose page sums are
// stored as records while its submitter still waits to delete them, and
// restarts the submitter. The restarted node must delete them, note it in
// the job's record and return the same result.
func TestRestartDeletesStoredSums(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	nodes, clients := startTrioIn(t, dirs)
	nodes[0].jobs.inputsGrace.Store(int64(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sealEightSensors(ctx, t, clients)
	req := api.JobRequest{Aggregates: []string{"count", "mean"}, By: "sensor", Reader: "hejobs", Encrypted: true, SegmentsPerUnit: 2}
	info, err := clients[0].SubmitJob(ctx, "", "eight", req)
	if err != nil {
		t.Fatal(err)
	}
	before := waitJobDone(ctx, t, clients[0], info.ID)
	waitFor(t, "the job's result in its record", func() bool {
		rec := jobRecordOf(ctx, t, nodes[0], info.ID)
		return rec != nil && rec.Final != nil && rec.Final.Done
	})
	if n := countJobRecords(ctx, nodes[0], "eight", info.ID); n <= 0 {
		t.Fatalf("%d stored page sums before the restart, want some", n)
	}

	restarted, client := restartFirst(t, nodes, dirs[0])
	waitWithin(t, "the restarted node to delete the stored sums", time.Minute, func() bool {
		return countJobRecords(ctx, restarted, "eight", info.ID) == 0
	})
	waitFor(t, "the record to note the deletion", func() bool {
		rec := jobRecordOf(ctx, t, restarted, info.ID)
		return rec != nil && rec.Cleaned
	})
	after, err := client.Job(ctx, info.ID)
	if err != nil {
		t.Fatalf("status after the restart: %v", err)
	}
	wantJSON, _ := json.Marshal(before.Groups)
	if gotJSON, _ := json.Marshal(after.Groups); !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("groups after the restart:\n%s\nwant those before:\n%s", gotJSON, wantJSON)
	}
}

// TestRestartResumesWatchingJob stores the record of an encrypted job
// with no result, as a submitter that crashed before the job ended leaves
// it, and restarts the submitter. The restarted node must request the
// job's status again, store its result and delete the job's ciphertexts.
func TestRestartResumesWatchingJob(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	nodes, clients := startTrioIn(t, dirs)
	nodes[0].jobs.inputsGrace.Store(int64(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	encryptedReaders(ctx, t, clients, "library")
	if _, err := clients[0].WriteReadings(ctx, "", "library", ulbReadings(t, 300)); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "hour", Reader: "hejobs", Encrypted: true}
	info, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	before := waitJobDone(ctx, t, clients[0], info.ID)
	var rec *job.Record
	waitFor(t, "the job's result in its record", func() bool {
		rec = jobRecordOf(ctx, t, nodes[0], info.ID)
		return rec != nil && rec.Final != nil
	})
	if n := countJobRecords(ctx, nodes[0], "library", info.ID); n <= 0 {
		t.Fatalf("%d job ciphertexts before the restart, want some", n)
	}

	// Take the result out of the record, as if the node had crashed
	// while the job ran.
	rec.Final = nil
	b, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nodes[0].jobRecordsNamespace("")
	if err != nil {
		t.Fatal(err)
	}
	opts := store.PutOptions{ContentType: "application/cbor", Size: int64(len(b))}
	if _, err := nodes[0].storage.store.Put(ctx, "", ns, jobRecordPrefix+info.ID, bytes.NewReader(b), opts); err != nil {
		t.Fatal(err)
	}

	restarted, client := restartFirst(t, nodes, dirs[0])
	waitWithin(t, "the restarted node to store the result and delete the ciphertexts", time.Minute, func() bool {
		rec := jobRecordOf(ctx, t, restarted, info.ID)
		return rec != nil && rec.Final != nil && rec.Cleaned
	})
	if n := countJobRecords(ctx, restarted, "library", info.ID); n != 0 {
		t.Errorf("%d job ciphertexts left after the restart, want none", n)
	}
	after, err := client.Job(ctx, info.ID)
	if err != nil {
		t.Fatalf("status after the restart: %v", err)
	}
	wantJSON, _ := json.Marshal(before.Groups)
	if gotJSON, _ := json.Marshal(after.Groups); !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("groups after the restart:\n%s\nwant those before:\n%s", gotJSON, wantJSON)
	}
}
