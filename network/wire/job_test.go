package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleJobMessages() []Message {
	peer := &Contact{ID: [32]byte{1}, Addr: netip.MustParseAddrPort("127.0.0.1:4717")}
	digest := bytes.Repeat([]byte{0xa5}, JobDigestSize)
	return []Message{
		&JobState{JobID: "j1", Epoch: 2, Role: JobManager, Peer: peer, Spec: []byte("spec"), State: []byte("state"),
			UnitList: digest, Partial: []byte("partial"), Done: true, Submitter: "2c006a87"},
		&JobState{JobID: "j1", Role: JobBackup, Spec: []byte("spec"), State: []byte("state"), UnitList: digest},
		&JobAssign{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Segments: []string{"readings/2006-11-13T17/a"}, Spec: []byte("spec")},
		&JobReport{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Result: []byte("partial")},
		&JobReport{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Err: "permission denied"},
		&JobPing{JobID: "j1", Epoch: 2},
		&JobStatusRequest{JobID: "j1", Cancel: true},
		&JobStatus{JobID: "j1", Epoch: 3, Manager: true, Units: 10, Committed: 9, Failed: 1, Workers: 4, Done: true, Partial: []byte("p")},
		&JobAck{Epoch: 3},
		&JobAck{Epoch: 3, ComputeTier: 2, Cluster: "50.5,4.0"},
		&JobReport{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Result: []byte("p"), Bytes: 4096, DataCluster: "50.5,4.0"},
		&JobStatus{JobID: "j1", Units: 1, Committed: 1, BytesHeld: 1, BytesCluster: 2, BytesRemote: 3, BytesUnknown: 4},
		&JobStatus{JobID: "j1", Units: 2, Committed: 1, Failed: 1, Done: true, LeftOut: 1, LeftOutErr: "permission denied",
			FailedErr: "unit 1: results disagree: workers a and b gave different results"},
		&JobState{JobID: "j1", Role: JobManager, Spec: []byte("spec"), State: []byte("state"), UnitList: digest, SumStore: peer},
		&JobAssign{JobID: "j1", Unit: 3, Segments: []string{"he/seg/a"}, Spec: []byte("spec"), SumStore: peer},
		&JobSum{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Index: 7, Sum: []byte("sum")},
		&JobReport{JobID: "j1", Epoch: 2, Lease: 9, Unit: 3, Result: []byte("reference"), Digest: bytes.Repeat([]byte{7}, 32)},
		&JobUnits{JobID: "j1", Digest: digest, Part: 1, Parts: 3, Size: 2<<20 + 5, Bytes: []byte("units")},
		&JobUnits{JobID: "j1", Digest: digest, Parts: 1, Size: 5, Bytes: []byte("units")},
	}
}

func TestJobRoundTrip(t *testing.T) {
	for _, msg := range sampleJobMessages() {
		b, err := Encode(7, msg)
		if err != nil {
			t.Fatalf("Encode(%v): %v", msg.Type(), err)
		}
		_, got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%v): %v", msg.Type(), err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("%v: decoded %#v, want %#v", msg.Type(), got, msg)
		}
		if strings.HasPrefix(msg.Type().String(), "type-") || !IsJobType(msg.Type()) {
			t.Errorf("type %d has no name or is not a job type", msg.Type())
		}
	}
}

func TestJobDecodeRejects(t *testing.T) {
	digest := make([]byte, JobDigestSize)
	tests := []struct {
		name string
		msg  Message
	}{
		{"state without id", &JobState{Spec: []byte("s"), State: []byte("s"), UnitList: digest}},
		{"id too long", &JobPing{JobID: strings.Repeat("j", MaxJobID+1)}},
		{"unknown role", &JobState{JobID: "j", Role: 2, Spec: []byte("s"), State: []byte("s"), UnitList: digest}},
		{"state without state", &JobState{JobID: "j", Spec: []byte("s"), UnitList: digest}},
		{"state without unit list", &JobState{JobID: "j", Spec: []byte("s"), State: []byte("s")}},
		{"state with short digest", &JobState{JobID: "j", Spec: []byte("s"), State: []byte("s"), UnitList: digest[1:]}},
		{"units with short digest", &JobUnits{JobID: "j", Digest: digest[1:], Parts: 1, Size: 1, Bytes: []byte("u")}},
		{"units without parts", &JobUnits{JobID: "j", Digest: digest, Size: 1, Bytes: []byte("u")}},
		{"units part past parts", &JobUnits{JobID: "j", Digest: digest, Part: 2, Parts: 2, Size: 2, Bytes: []byte("u")}},
		{"units too many parts", &JobUnits{JobID: "j", Digest: digest, Parts: MaxJobUnitsParts + 1, Size: MaxJobUnitsParts + 1, Bytes: []byte("u")}},
		{"units list too large", &JobUnits{JobID: "j", Digest: digest, Parts: 1024, Size: MaxJobUnitList + 1, Bytes: []byte("u")}},
		{"units size past parts", &JobUnits{JobID: "j", Digest: digest, Parts: 1, Size: MaxJobUnitsPart + 1, Bytes: []byte("u")}},
		{"units fewer bytes than parts", &JobUnits{JobID: "j", Digest: digest, Parts: 3, Size: 2, Bytes: []byte("u")}},
		{"units part empty", &JobUnits{JobID: "j", Digest: digest, Parts: 1, Size: 1}},
		{"units part past size", &JobUnits{JobID: "j", Digest: digest, Parts: 1, Size: 1, Bytes: []byte("uu")}},
		{"assignment without segments", &JobAssign{JobID: "j", Spec: []byte("s")}},
		{"empty segment key", &JobAssign{JobID: "j", Segments: []string{""}, Spec: []byte("s")}},
		{"segment key too long", &JobAssign{JobID: "j", Segments: []string{strings.Repeat("k", MaxJobSegmentKey+1)}, Spec: []byte("s")}},
		{"report error too long", &JobReport{JobID: "j", Err: strings.Repeat("e", MaxJobText+1)}},
		{"status counts too many", &JobStatus{JobID: "j", Units: 2, Committed: 2, Failed: 1}},
		{"status left-out error too long", &JobStatus{JobID: "j", LeftOutErr: strings.Repeat("e", MaxJobText+1)}},
		{"status failed unit error too long", &JobStatus{JobID: "j", FailedErr: strings.Repeat("e", MaxJobText+1)}},
		{"ack of unknown tier", &JobAck{ComputeTier: 4}},
		{"ack cluster too long", &JobAck{Cluster: strings.Repeat("c", MaxJobCluster+1)}},
		{"report digest too long", &JobReport{JobID: "j", Digest: make([]byte, MaxJobDigest+1)}},
		{"report cluster too long", &JobReport{JobID: "j", DataCluster: strings.Repeat("c", MaxJobCluster+1)}},
		{"sum without bytes", &JobSum{JobID: "j"}},
		{"sum index too large", &JobSum{JobID: "j", Index: MaxJobSegments, Sum: []byte("s")}},
		{"sum too large", &JobSum{JobID: "j", Sum: make([]byte, MaxJobResult+1)}},
		{"sum store without address", &JobAssign{JobID: "j", Segments: []string{"k"}, Spec: []byte("s"), SumStore: &Contact{ID: [32]byte{1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(0, tt.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if _, msg, err := Decode(b); err == nil {
				t.Fatalf("Decode = %v, nil; want an error", msg)
			}
		})
	}
}

// FuzzDecodeJob is FuzzDecode seeded with the job messages.
func FuzzDecodeJob(f *testing.F) {
	for _, msg := range sampleJobMessages() {
		b, err := Encode(3, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, msg, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(req, msg)
		if err != nil {
			t.Fatalf("accepted %v does not encode: %v", msg.Type(), err)
		}
		// An empty byte string decodes as empty and encodes as absent,
		// so the check compares encodings, not values.
		_, msg2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", msg.Type(), err)
		}
		third, err := Encode(req, msg2)
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("round trip changed %v: %v", msg.Type(), err)
		}
	})
}
