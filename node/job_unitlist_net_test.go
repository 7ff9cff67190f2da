package node

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
)

// TestJobHandsOverLargeUnitList runs a job whose unit list takes many
// parts on three nodes over QUIC: its manager and backup must receive
// the list intact, and after the manager is
// killed mid-job, the backup takes over with every unit, sends the list
// to its new backup, and the job counts each unit once. Each unit holds
// 256 segments, the stored segments of the job's input repeated, which
// a worker reads as one source-hour each and counts once.
//
// Parts are lowered to 16 KiB so that the list takes 10 parts at about
// 10 units. With YUI_JOB_FULL_PARTS=1 the test keeps the real parts of
// 1 MiB and runs a list larger than one message (2 MiB, about 200
// units, 50,000 segments), which takes minutes to read.
func TestJobHandsOverLargeUnitList(t *testing.T) {
	size := wire.MaxMessageSize * 3 / 2
	if os.Getenv("YUI_JOB_FULL_PARTS") != "1" {
		defer func(old int) { jobUnitPartBytes = old }(jobUnitPartBytes)
		jobUnitPartBytes = 16 << 10
		size = 10 * jobUnitPartBytes
	}
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	if _, err := clients[0].WriteReadings(ctx, "", "library", ulbReadings(t, 200)); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	want, err := clients[0].Query(ctx, "", "library", api.QueryRequest{Aggregates: []string{"count"}, By: "sensor"})
	if err != nil {
		t.Fatal(err)
	}

	spec := job.Spec{Namespace: "library", Aggs: []string{"count"}, By: "sensor", Reader: "jobs"}
	q, err := spec.Query()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := nodes[0].search.querier.SegmentKeys(ctx, "", q)
	if err != nil || len(keys) == 0 || len(keys) > maxSegmentsPerUnit {
		t.Fatalf("%d segment keys, %v; want 1 to %d", len(keys), err, maxSegmentsPerUnit)
	}
	units := repeatedUnits(nodes, keys, size)
	list, err := newUnitList(units)
	if err != nil {
		t.Fatal(err)
	}
	segments := len(units) * maxSegmentsPerUnit
	parts, _ := partSizes(len(list.bytes), jobUnitPartBytes)
	t.Logf("%d units of %d segments over %d stored segments: unit list of %d bytes in %d parts", len(units),
		maxSegmentsPerUnit, len(keys), len(list.bytes), parts)
	if len(list.bytes) < size {
		t.Fatalf("unit list of %d bytes, the test needs %d", len(list.bytes), size)
	}

	// The submitter must outlive the manager, so a job it manages is
	// canceled and started again under another ID.
	var id string
	var manager *Node
	for try := 0; manager == nil; try++ {
		if try == 8 {
			t.Fatal("eight jobs in a row were managed by the submitting node")
		}
		spec.ID = newJobID()
		if id, err = nodes[0].startJob(ctx, "", &spec, units, nil, false); err != nil {
			t.Fatal(err)
		}
		manager = nodeByID(nodes[1:], nodes[0].jobs.submittedJob(ctx, id).manager.ID.String())
		if manager == nil {
			if _, err := clients[0].CancelJob(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	sj := nodes[0].jobs.submittedJob(ctx, id)
	if sj.backup == nil {
		t.Fatal("the job has no backup")
	}
	backup := nodeByID(nodes, sj.backup.ID.String())
	checkUnitList(t, "manager", manager, id, list)
	checkUnitList(t, "backup", backup, id, list)

	// The kill comes once the backup holds a replica with commits.
	var replicated int
	var killedEpoch uint64
	for deadline := time.Now().Add(time.Minute); replicated < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup holds %d commits after a minute, want 2", replicated)
		}
		replicated, killedEpoch = backupCommits(backup, id)
	}
	manager.Kill()
	t.Logf("killed manager %s at epoch %d, its backup holding %d of %d commits", manager.ID().Short(), killedEpoch,
		replicated, len(units))

	var newBackup *wire.Contact
	waitWithin(t, "the backup to take the job over", time.Minute, func() bool {
		backup.jobs.mu.Lock()
		mj := backup.jobs.managed[id]
		backup.jobs.mu.Unlock()
		mj.mu.Lock()
		defer mj.mu.Unlock()
		newBackup = mj.peer
		return mj.role == wire.JobManager && mj.machine != nil
	})
	if newBackup == nil {
		t.Fatal("the backup took the job over without a backup of its own")
	}
	third := nodeByID(nodes, newBackup.ID.String())
	if third == nil || third == manager || third == backup {
		t.Fatalf("the new manager picked %s as its backup, want the third node", newBackup.ID.Short())
	}
	waitWithin(t, "the new backup to hold the unit list", time.Minute, func() bool {
		third.jobs.mu.Lock()
		mj := third.jobs.managed[id]
		third.jobs.mu.Unlock()
		return mj != nil && mj.holdsUnitList(list.digest[:])
	})
	checkUnitList(t, "new backup", third, id, list)

	st := waitJobDone(ctx, t, clients[0], id)
	if st.Units != len(units) || st.Committed != st.Units || st.Failed != 0 {
		t.Fatalf("job status %d units, %d committed, %d failed; want all %d committed", st.Units, st.Committed, st.Failed, len(units))
	}
	if st.Epoch <= killedEpoch {
		t.Fatalf("job ended at epoch %d, not above the killed manager's %d: the backup did not take over", st.Epoch, killedEpoch)
	}
	if len(st.Groups) != len(want.Groups) {
		t.Fatalf("job returned %d groups, the query %d", len(st.Groups), len(want.Groups))
	}
	for i, g := range st.Groups {
		w := want.Groups[i]
		if g.Sensor != w.Sensor || g.Count != w.Count*len(units) {
			t.Errorf("group %d: sensor %s counts %d; want sensor %s counting %d × %d units", i, g.Sensor, g.Count,
				w.Sensor, w.Count, len(units))
		}
	}
	t.Logf("%d segments in %d units done at epoch %d", segments, len(units), st.Epoch)
}

// repeatedUnits returns units of maxSegmentsPerUnit segments each, keys
// repeated, held by every node, enough for a unit list above size bytes.
func repeatedUnits(nodes []*Node, keys []string, size int) []sched.Unit {
	var holders []sched.WorkerID
	for _, n := range nodes {
		holders = append(holders, sched.WorkerID(n.ID().String()))
	}
	perUnit := 0
	for i := range maxSegmentsPerUnit {
		perUnit += len(keys[i%len(keys)]) + 4
	}
	units := make([]sched.Unit, size/perUnit+1)
	for i := range units {
		u := sched.Unit{ID: sched.UnitID(i), Readings: maxSegmentsPerUnit}
		for j := range maxSegmentsPerUnit {
			u.Segments = append(u.Segments, sched.Segment{Key: keys[j%len(keys)], Readings: 1, Holders: holders})
		}
		slices.SortFunc(u.Segments, func(a, b sched.Segment) int { return strings.Compare(a.Key, b.Key) })
		units[i] = u
	}
	return units
}

// nodeByID returns the node of nodes with the ID given in hex, or nil.
func nodeByID(nodes []*Node, id string) *Node {
	for _, n := range nodes {
		if n.ID().String() == id {
			return n
		}
	}
	return nil
}

// checkUnitList checks that n holds job id's unit list, equal to list.
func checkUnitList(t *testing.T, role string, n *Node, id string, list *unitList) {
	t.Helper()
	n.jobs.mu.Lock()
	mj := n.jobs.managed[id]
	n.jobs.mu.Unlock()
	if mj == nil {
		t.Fatalf("the %s %s has no job %s", role, n.ID().Short(), id)
	}
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if mj.units == nil || mj.units.digest != list.digest {
		t.Fatalf("the %s %s holds no unit list of digest %s", role, n.ID().Short(), digestName(list.digest[:]))
	}
	if !reflect.DeepEqual(mj.units.units, list.units) {
		t.Fatalf("the %s %s holds %d units that differ from the %d sent", role, n.ID().Short(), len(mj.units.units), len(list.units))
	}
	snap := mj.snap
	if mj.machine != nil {
		snap = mj.machine.Snapshot()
	}
	if snap == nil || len(snap.Units) != len(list.units) {
		t.Fatalf("the %s %s schedules no snapshot of %d units", role, n.ID().Short(), len(list.units))
	}
}

// A node rejects a job state whose unit list it lacks, with an error
// that names the job and the list's digest, and sendState then sends the
// list and the state again.
func TestJobStateWithoutUnitList(t *testing.T) {
	base := t.TempDir()
	a := startLocal(t, base+"/a")
	b := startLocal(t, base+"/b", a.Addr().String())
	waitFor(t, "the nodes to know each other", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	spec := job.Spec{ID: newJobID(), Namespace: "library", Aggs: []string{"count"}, Reader: defaultReader}
	specBytes, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	list := testUnitList(t, 3)
	m, err := sched.New(jobConfig(0), 1, list.units)
	if err != nil {
		t.Fatal(err)
	}
	state, err := m.Snapshot().EncodeState()
	if err != nil {
		t.Fatal(err)
	}
	self := a.jobs.self()
	msg := &wire.JobState{JobID: spec.ID, Role: wire.JobBackup, Peer: &self, Spec: specBytes, State: state,
		UnitList: list.digest[:]}
	to := b.jobs.self()

	_, err = a.jobs.request(ctx, to, msg)
	if !errors.Is(err, errUnitsMissing) {
		t.Fatalf("state without its unit list: error %v, want errUnitsMissing", err)
	}
	for _, part := range []string{spec.ID, digestName(list.digest[:])} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	b.jobs.mu.Lock()
	stub := b.jobs.managed[spec.ID]
	b.jobs.mu.Unlock()
	if stub != nil {
		t.Fatal("the rejected state left a job behind")
	}

	if _, err := a.jobs.sendState(ctx, to, msg, list); err != nil {
		t.Fatalf("sendState: %v", err)
	}
	checkUnitList(t, "backup", b, spec.ID, list)
	if held := b.jobs.unitLists.bytesHeld(); held != 0 {
		t.Errorf("%d bytes of unit lists still held after the job took its list, want 0", held)
	}

	// Later states go without the list.
	if _, err := a.jobs.request(ctx, to, msg); err != nil {
		t.Fatalf("second state: %v", err)
	}
}
