package node

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/sensor"
)

// TestSealedJobStoresSums runs a sealed job by sensor over eight
// sensors. Its eight page sums do not fit one job message, so workers
// store them through the submitter and report references. The means
// must equal the exact decimal means and the plain job's, the job's
// records under he/jobs/ID/ must be deleted once its result is stored,
// and the status must still return the same groups, also once the
// submitter reads them back from the stored result.
func TestSealedJobStoresSums(t *testing.T) {
	nodes, clients := startTrio(t)
	nodes[0].jobs.inputsGrace = 0
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
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

	aggs := []string{"count", "sum", "mean"}
	info, err := clients[0].SubmitJob(ctx, "", "eight", api.JobRequest{Aggregates: aggs, By: "sensor", Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	plain := waitJobDone(ctx, t, clients[0], info.ID)

	req := api.JobRequest{Aggregates: aggs, By: "sensor", Reader: "hejobs", Encrypted: true, SegmentsPerUnit: 2}
	info, err = clients[0].SubmitJob(ctx, "", "eight", req)
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
	if len(refs) != sealed.Units || sums < len(chosen) {
		t.Errorf("%d references to %d sums for %d units over %d sensors; want one per unit and a sum per sensor at least",
			len(refs), sums, sealed.Units, len(chosen))
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

	req.Verify = 2
	if _, err := clients[0].SubmitJob(ctx, "", "eight", req); err == nil || !strings.Contains(err.Error(), "--verify 2") {
		t.Errorf("sealed job by sensor over eight sensors with --verify 2: error %v, want one naming --verify", err)
	}
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
