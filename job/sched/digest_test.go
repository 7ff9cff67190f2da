package sched

import (
	"bytes"
	"testing"
	"time"
)

// digestReports starts a Machine of one unit with the given Verify and
// as many workers, and returns it with each worker's assignment.
func digestReports(t *testing.T, verify int) (*Machine, []Assignment) {
	t.Helper()
	now := time.Unix(1000, 0)
	m, err := New(Config{Verify: verify, MaxAttempts: 5}, 1, makeUnits([]int{10}, noHolders))
	if err != nil {
		t.Fatal(err)
	}
	for i := range verify {
		if err := m.AddWorker(now, WorkerID(rune('a'+i)), TierUpper); err != nil {
			t.Fatal(err)
		}
	}
	assigns, _ := m.Outbox()
	if len(assigns) != verify {
		t.Fatalf("%d assignments for verify %d, want one per worker", len(assigns), verify)
	}
	return m, assigns
}

func digestReport(a Assignment, result, digest string) Report {
	r := Report{Worker: a.Worker, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: []byte(result)}
	if digest != "" {
		r.Digest = []byte(digest)
	}
	return r
}

func TestEqualDigestsCommitDifferentResults(t *testing.T) {
	m, assigns := digestReports(t, 2)
	now := time.Unix(1001, 0)
	for i, a := range assigns {
		if err := m.HandleReport(now, digestReport(a, "reference of "+string(a.Worker), "digest")); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	commits := m.Commits()
	if len(commits) != 1 || !m.Done() {
		t.Fatalf("%d commits, done %v; want the unit committed once", len(commits), m.Done())
	}
	c := commits[0]
	first := "reference of " + string(assigns[0].Worker)
	if string(c.Result) != first || c.Worker != assigns[0].Worker {
		t.Errorf("committed %q from %s, want the first report's %q", c.Result, c.Worker, first)
	}
	if string(c.Digest) != "digest" {
		t.Errorf("commit digest %q, want %q", c.Digest, "digest")
	}
	if len(c.Agreed) != 2 || string(c.Agreed[0]) != first ||
		string(c.Agreed[1]) != "reference of "+string(assigns[1].Worker) {
		t.Errorf("agreed results %q, want both references, the committed one first", c.Agreed)
	}
}

func TestDifferentDigestsDoNotCommit(t *testing.T) {
	m, assigns := digestReports(t, 2)
	now := time.Unix(1001, 0)
	if err := m.HandleReport(now, digestReport(assigns[0], "same", "digest one")); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleReport(now, digestReport(assigns[1], "same", "digest two")); err != nil {
		t.Fatal(err)
	}
	if got := m.Commits(); len(got) != 0 || m.Done() {
		t.Fatalf("commits %+v on different digests over equal results; want none", got)
	}
	if got := m.Snapshot().Attempts[0]; got != 1 {
		t.Errorf("unit has %d attempts after disagreeing digests, want 1", got)
	}
}

func TestDigestNeverAgreesWithoutDigest(t *testing.T) {
	m, assigns := digestReports(t, 2)
	now := time.Unix(1001, 0)
	if err := m.HandleReport(now, digestReport(assigns[0], "digest", "digest")); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleReport(now, digestReport(assigns[1], "digest", "")); err != nil {
		t.Fatal(err)
	}
	if got := m.Commits(); len(got) != 0 {
		t.Fatalf("commits %+v when one report has a digest and the other none; want none", got)
	}
}

func TestResultsWithoutDigestCompareBytes(t *testing.T) {
	m, assigns := digestReports(t, 2)
	now := time.Unix(1001, 0)
	for _, a := range assigns {
		if err := m.HandleReport(now, digestReport(a, "partial", "")); err != nil {
			t.Fatal(err)
		}
	}
	commits := m.Commits()
	if len(commits) != 1 {
		t.Fatalf("%d commits on equal results, want 1", len(commits))
	}
	if c := commits[0]; !bytes.Equal(c.Result, []byte("partial")) || c.Digest != nil || c.Agreed != nil {
		t.Errorf("commit %+v, want result %q with no digest and no agreed list", c, "partial")
	}
}
