package node

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// sealedSums is the expected content of sealed records: per source hash,
// hour and field, the fixed-point sum and value count, and per source
// hash and hour the reading count (under field "").
type sealedSums map[string]*[2]int64

func (s sealedSums) add(source string, hour int64, field string, sum, count int64) {
	key := search.SourceHash(source) + "/" + time.Unix(hour*3600, 0).UTC().Format(time.RFC3339) + "/" + field
	if s[key] == nil {
		s[key] = new([2]int64)
	}
	s[key][0] += sum
	s[key][1] += count
}

// TestIngestSealsSegments seals a namespace, writes ULB readings to it
// through the HTTP API of a three-node cluster, and checks that every
// stored segment has a ciphertext record with the same key suffix whose
// decrypted block holds that segment's exact fixed-point sums. It also
// checks that a write with a value the scale cannot hold is rejected
// whole, and that an unsealed namespace gets no ciphertexts.
func TestIngestSealsSegments(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := clients[0].SealNamespace(ctx, "", "library", api.SealRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Owner != store.DefaultUser || info.Scale != 100 || info.Max != 10000 {
		t.Errorf("seal info %+v, want owner default, scale 100, max 10000", info)
	}
	if _, err := clients[0].SealNamespace(ctx, "", "library", api.SealRequest{Scale: 1000}); err == nil ||
		!strings.Contains(err.Error(), "sealed by default with scale 100") {
		t.Errorf("sealing again with another scale: error %v, want one naming the sealed scale", err)
	}
	readings := ulbReadings(t, 300)
	// The first 20 readings go twice in one write, as a request and its
	// retry merged by group commit do; each must count once.
	twice := append(slices.Clone(readings), readings[:20]...)
	if _, err := clients[0].WriteReadings(ctx, "", "library", twice); err != nil {
		t.Fatal(err)
	}

	owner := nodes[0]
	segs, err := owner.storage.store.List(ctx, "", "library", "readings/")
	if err != nil || len(segs) < 10 {
		t.Fatalf("list segments: %d, %v; want at least 10", len(segs), err)
	}
	sealed, err := owner.storage.store.List(ctx, "", "library", sealedSegmentPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(segs) {
		t.Fatalf("%d ciphertext records for %d segments, want one each", len(sealed), len(segs))
	}
	key, err := owner.loadOwnerKey(store.DefaultUser)
	if err != nil {
		t.Fatal(err)
	}
	params, err := heParams()
	if err != nil {
		t.Fatal(err)
	}
	got := make(sealedSums)
	for i, s := range segs {
		suffix, _ := search.SegmentKeySuffix(s.Key)
		if sealed[i].Key != sealedSegmentPrefix+suffix {
			t.Fatalf("ciphertext record %d is %s, want %s", i, sealed[i].Key, sealedSegmentPrefix+suffix)
		}
		var b bytes.Buffer
		if _, err := owner.storage.store.Get(ctx, "", "library", sealed[i].Key, &b, store.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		h, ct, err := params.DecodeSegmentRecord(b.Bytes())
		if err != nil {
			t.Fatalf("record %s: %v", sealed[i].Key, err)
		}
		hour, source, _ := search.ParseSegmentKey(s.Key)
		if h.Source != source || h.Hour != hour || h.Scale != 100 || h.Bound != 10000 {
			t.Fatalf("record %s: header %+v, want source %s hour %d", sealed[i].Key, h, source, hour)
		}
		slots, err := key.DecryptSlots(ct)
		if err != nil {
			t.Fatal(err)
		}
		hours, err := he.PageHours(slots, h.Page, len(h.Fields))
		if err != nil {
			t.Fatal(err)
		}
		if len(hours) != 1 || hours[0].Hour != hour {
			t.Fatalf("record %s decrypts to hours %+v, want %d alone", sealed[i].Key, hours, hour)
		}
		k := h.Source + "/" + time.Unix(hour*3600, 0).UTC().Format(time.RFC3339) + "/"
		if got[k] == nil {
			got[k] = new([2]int64)
		}
		got[k][1] += hours[0].Readings
		for j, f := range h.Fields {
			if got[k+f] == nil {
				got[k+f] = new([2]int64)
			}
			got[k+f][0] += hours[0].Sums[j]
			got[k+f][1] += hours[0].Counts[j]
		}
	}
	want := make(sealedSums)
	for _, r := range readings {
		hour := r.Time.Unix() / 3600
		want.add(r.Source, hour, "", 0, 1)
		for _, f := range r.Fields {
			if v, ok := f.Value.Number(); ok {
				want.add(r.Source, hour, f.Name, int64(math.Round(v*100)), 1)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("decrypted %d source-hour fields, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g := got[k]; g == nil || *g != *w {
			t.Errorf("%s: decrypted sum and count %v, want %v", k, g, *w)
		}
	}

	bad := []sensor.Reading{{Source: "mote-x", Time: readings[0].Time, Fields: []sensor.Field{{Name: "temperature", Value: sensor.Number(21.125)}}}}
	if _, err := clients[0].WriteReadings(ctx, "", "library", bad); err == nil ||
		!strings.Contains(err.Error(), `"temperature"`) || !strings.Contains(err.Error(), "21.125") {
		t.Errorf("write of 21.125 at scale 100: error %v, want one naming the field and value", err)
	}
	bad[0].Fields[0].Value = sensor.Number(20000)
	if _, err := clients[0].WriteReadings(ctx, "", "library", bad); err == nil || !strings.Contains(err.Error(), "20000") {
		t.Errorf("write of 20000 with max 10000: error %v, want one naming the value", err)
	}
	if after, err := owner.storage.store.List(ctx, "", "library", "readings/"); err != nil || len(after) != len(segs) {
		t.Errorf("after the rejected writes: %d segments, %v; want %d", len(after), err, len(segs))
	}

	if _, err := clients[0].WriteReadings(ctx, "", "plain", readings[:50]); err != nil {
		t.Fatal(err)
	}
	if recs, err := owner.storage.store.List(ctx, "", "plain", sealedPrefix); err != nil || len(recs) != 0 {
		t.Errorf("unsealed namespace holds %d records under he/, %v; want none", len(recs), err)
	}
}

// FuzzParseSegmentContentType checks that the parser of a ciphertext
// record's content type, which comes from a listing, accepts only what
// segmentContentTypeOf writes: whatever it accepts prints back the same.
func FuzzParseSegmentContentType(f *testing.F) {
	f.Add(segmentContentTypeOf([]string{"humidity", "temperature"}))
	f.Add(segmentContentTypeOf(nil))
	f.Add(sealedSegmentContentType + "; fields=-1; list=0123456789abcdef")
	f.Fuzz(func(t *testing.T, ct string) {
		n, list, ok := parseSegmentContentType(ct)
		if !ok {
			return
		}
		if n < 0 || n > he.MaxHeaderFields {
			t.Fatalf("accepted %d fields", n)
		}
		if again := fmt.Sprintf("%s; fields=%d; list=%s", sealedSegmentContentType, n, list); again != ct {
			t.Fatalf("accepted %q, which prints back as %q", ct, again)
		}
	})
}

// TestDeleteSegmentDeletesCiphertext deletes a segment of a sealed
// namespace through the HTTP API and checks that its ciphertext record
// goes with it, that the other segments keep theirs, and that deleting a
// segment of an unsealed namespace, which has no ciphertext, succeeds.
func TestDeleteSegmentDeletesCiphertext(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := clients[0].SealNamespace(ctx, "", "library", api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	readings := ulbReadings(t, 100)
	for _, ns := range []string{"library", "plain"} {
		if _, err := clients[0].WriteReadings(ctx, "", ns, readings); err != nil {
			t.Fatal(err)
		}
	}
	list := func(ns, prefix string) []string {
		t.Helper()
		infos, err := nodes[0].storage.store.List(ctx, "", ns, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, info := range infos {
			keys = append(keys, info.Key)
		}
		return keys
	}
	segments, sealed := list("library", "readings/"), list("library", sealedSegmentPrefix)
	if len(segments) < 2 || len(sealed) != len(segments) {
		t.Fatalf("%d segments and %d ciphertext records, want two or more of each, as many", len(segments), len(sealed))
	}
	gone := segments[0]
	suffix, _ := search.SegmentKeySuffix(gone)
	if err := clients[0].DeleteRecord(ctx, "", "library", gone); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(list("library", "readings/"), gone) {
		t.Errorf("segment %s still listed after its deletion", gone)
	}
	left := list("library", sealedSegmentPrefix)
	if slices.Contains(left, sealedSegmentPrefix+suffix) {
		t.Errorf("ciphertext record %s%s still listed after its segment was deleted", sealedSegmentPrefix, suffix)
	}
	if len(left) != len(sealed)-1 {
		t.Errorf("%d ciphertext records left of %d, want one fewer", len(left), len(sealed))
	}
	if names := list("library", sourceNamePrefix); len(names) == 0 {
		t.Error("the sensors' name records were deleted with a segment")
	}

	plain := list("plain", "readings/")
	if err := clients[0].DeleteRecord(ctx, "", "plain", plain[0]); err != nil {
		t.Errorf("delete a segment of an unsealed namespace: %v", err)
	}
	if err := clients[0].DeleteRecord(ctx, "", "library", "notes/absent"); err == nil {
		t.Error("deleting a record that does not exist succeeded")
	}
}
