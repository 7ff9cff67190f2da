package node

import (
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
)

// A unit whose two workers keep giving different results fails after
// MaxAttempts, and the job's status gives that reason and names the
// workers.
func TestFailedUnitErrorDisagreement(t *testing.T) {
	units := []sched.Unit{{ID: 0, Segments: []sched.Segment{{Key: "seg0", Readings: 10}}, Readings: 10}}
	m, err := sched.New(sched.Config{Verify: 2, MaxAttempts: 2}, 1, units)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

	for _, id := range []sched.WorkerID{"a", "b"} {
		if err := m.AddWorker(now, id, sched.TierUpper); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 2; round++ {
		assigns, _ := m.Outbox()
		if len(assigns) != 2 {
			t.Fatalf("round %d: %d assignments, want the unit on both workers", round, len(assigns))
		}
		for _, a := range assigns {
			r := sched.Report{Worker: a.Worker, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID,
				Result: []byte("result from " + string(a.Worker))}
			if err := m.HandleReport(now, r); err != nil {
				t.Fatal(err)
			}
		}
	}

	if !m.Done() {
		t.Fatal("job not done after two rounds of disagreeing results")
	}
	got := failedUnitError(m, m.Failed())
	for _, want := range []string{"unit 0: results disagree", "2 attempts"} {
		if !strings.Contains(got, want) {
			t.Errorf("failed unit error %q does not contain %q", got, want)
		}
	}
	// The workers appear in the order their results arrived.
	if !strings.Contains(got, "workers a and b") && !strings.Contains(got, "workers b and a") {
		t.Errorf("failed unit error %q does not name workers a and b", got)
	}
	if len(got) > wire.MaxJobText {
		t.Errorf("failed unit error is %d bytes, limit %d", len(got), wire.MaxJobText)
	}
}
