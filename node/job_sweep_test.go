package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

func TestSweepDropsEndedJobs(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := &jobService{managed: make(map[string]*managedJob), fences: make(map[string]*workerFence)}
	s.managed["running"] = &managedJob{id: "running"}
	s.managed["done"] = &managedJob{id: "done", done: true}
	s.managed["canceled"] = &managedJob{id: "canceled", canceled: true}
	s.managed["deposed"] = &managedJob{id: "deposed", deposed: true}
	s.fences["old"] = &workerFence{used: now.Add(-jobKeepEnded)}
	s.fences["fresh"] = &workerFence{used: now.Add(-time.Minute)}

	if n := s.sweep(now); n != 0 {
		t.Fatalf("first sweep dropped %d jobs, want 0: an ended job stays jobKeepEnded", n)
	}
	if len(s.managed) != 4 {
		t.Fatalf("after the first sweep %d jobs, want 4", len(s.managed))
	}
	if s.fences["old"] != nil || s.fences["fresh"] == nil {
		t.Errorf("fences after the sweep: old kept %v, fresh kept %v; want only fresh", s.fences["old"] != nil, s.fences["fresh"] != nil)
	}

	if n := s.sweep(now.Add(jobKeepEnded - time.Second)); n != 0 {
		t.Fatalf("sweep before jobKeepEnded dropped %d jobs", n)
	}
	if n := s.sweep(now.Add(jobKeepEnded)); n != 3 {
		t.Fatalf("sweep after jobKeepEnded dropped %d jobs, want the 3 ended", n)
	}
	if len(s.managed) != 1 || s.managed["running"] == nil {
		t.Errorf("jobs left %v, want only the running one", keysOf(s.managed))
	}
}

func TestSweepBoundsEndedJobs(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := &jobService{managed: make(map[string]*managedJob), fences: make(map[string]*workerFence)}
	extra := 5
	for i := range jobMaxEnded + extra {
		id := fmt.Sprintf("job%04d", i)
		// The first sweeps see the jobs end one second apart, oldest first.
		s.managed[id] = &managedJob{id: id, done: true, ended: now.Add(time.Duration(i) * time.Second)}
	}
	s.managed["running"] = &managedJob{id: "running"}

	if n := s.sweep(now.Add(time.Hour - time.Minute)); n != extra {
		t.Fatalf("sweep dropped %d jobs, want the %d beyond jobMaxEnded", n, extra)
	}
	for i := range extra {
		if id := fmt.Sprintf("job%04d", i); s.managed[id] != nil {
			t.Errorf("job %s, among the oldest, was kept", id)
		}
	}
	if s.managed["running"] == nil || len(s.managed) != jobMaxEnded+1 {
		t.Errorf("%d jobs left, want %d ended and the running one", len(s.managed), jobMaxEnded)
	}
}

func keysOf[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// TestEncryptedJobDeletesInputs checks that the submitter deletes an
// encrypted job's ciphertext records once its result is stored, and that
// the result still reads from the job's record.
func TestEncryptedJobDeletesInputs(t *testing.T) {
	nodes, clients := startTrio(t)
	nodes[0].jobs.inputsGrace.Store(int64(0))
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
	prefix := sealedPrefix + "jobs/" + info.ID + "/"
	stored, err := nodes[0].storage.store.List(ctx, "", "library", prefix)
	if err != nil || len(stored) == 0 {
		t.Fatalf("list %s after submit: %d records, %v; want the job's ciphertexts", prefix, len(stored), err)
	}
	done := waitJobDone(ctx, t, clients[0], info.ID)

	var left int
	waitFor(t, "the job's ciphertexts to be deleted", func() bool {
		infos, err := nodes[0].storage.store.List(ctx, "", "library", prefix)
		left = len(infos)
		return err == nil && left == 0
	})
	again, err := clients[0].Job(ctx, info.ID)
	if err != nil {
		t.Fatalf("status after the ciphertexts were deleted: %v", err)
	}
	if len(again.Groups) != len(done.Groups) || len(again.Groups) == 0 {
		t.Errorf("status after the ciphertexts were deleted has %d groups, want %d", len(again.Groups), len(done.Groups))
	}
	segs, err := nodes[0].storage.store.List(ctx, "", "library", "readings/")
	if err != nil || len(segs) == 0 {
		t.Errorf("readings after the job: %d segments, %v; the plaintext must stay", len(segs), err)
	}
}

// TestJobStatusNamesLeftOutWorkers runs a job whose reader has no grant
// on one of the three nodes, and checks that the status counts that
// worker as left out, with its error, and that the others finish the
// job.
func TestJobStatusNamesLeftOutWorkers(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, c := range clients {
		u, err := c.CreateUser(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			continue
		}
		g := api.Grant{User: "jobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := clients[0].Grant(ctx, "", "library", g); err != nil {
			t.Fatal(err)
		}
	}
	all := ulbReadings(t, 1500)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatal(err)
	}

	req := api.JobRequest{Aggregates: []string{"count"}, SegmentsPerUnit: 1, Reader: "jobs"}
	info, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	if st.Failed != 0 {
		t.Errorf("%d units failed, want the granted workers to run them all", st.Failed)
	}
	if st.LeftOut != 1 {
		t.Errorf("status counts %d workers left out, want the one without a grant", st.LeftOut)
	}
	if !strings.Contains(st.LeftOutError, "permission denied") {
		t.Errorf("left-out error %q, want the worker's permission error", st.LeftOutError)
	}
}

// TestJobListSaysWhenIncomplete gives a node a user whose key file is
// damaged, so the job records of that user cannot be read, and checks
// that the job list says it may be incomplete and why.
func TestJobListSaysWhenIncomplete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	n := startLocal(t, dir)
	client := api.NewClient(n.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, incomplete, err := client.JobList(ctx)
	if err != nil || incomplete != "" {
		t.Fatalf("job list of a healthy node: incomplete %q, %v; want a complete list", incomplete, err)
	}

	n.Close()
	if err := os.WriteFile(filepath.Join(dir, "users", "damaged.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	n = startLocal(t, dir)
	jobs, incomplete, err := api.NewClient(n.APIAddr()).JobList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"may be missing", "damaged.pem"} {
		if !strings.Contains(incomplete, want) {
			t.Errorf("job list with a damaged user file: %d jobs, incomplete %q; want it to contain %q", len(jobs), incomplete, want)
		}
	}
}
