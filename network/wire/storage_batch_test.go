package wire

import (
	"reflect"
	"testing"
)

func sampleStorageBatchMessages() []Message {
	rec := Record{Envelope: []byte("signed"), Header: []byte("sealed"), Segment: &SegmentRef{Chunk: Hash{1}, Offset: 7, Length: 9}}
	return []Message{
		&GetRecords{Namespace: "ns", KeyHashes: []Hash{{1}, {2}}},
		&RecordList{Records: []Record{rec}, NotFound: []Hash{{3}}},
		&RecordList{Packed: []PackedEntry{{KeyHash: Hash{4}, Version: 9, Writer: []byte("writer key"), Ref: PackedRef{Segment: Hash{5}, Index: 2},
			Wraps: []Wrap{{Reader: Hash{6}, Key: []byte("wrapped")}}}}},
		&PutRecords{Namespace: "ns", Records: []Record{rec}, Packed: []PackedRef{{Segment: Hash{7}, Index: 1}}},
		&RecordPage{Packed: []PackedEntry{{KeyHash: Hash{4}, Version: 9, Writer: []byte("w")}}, More: true},
		&RecordList{},
		&PutRecords{Namespace: "ns", Dir: 3, Records: []Record{rec, {Envelope: []byte("tombstone")}}},
	}
}

func TestStorageBatchRoundTrip(t *testing.T) {
	for _, msg := range sampleStorageBatchMessages() {
		b, err := Encode(0, msg)
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
	}
}

func TestStorageBatchDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"get without keys", &GetRecords{Namespace: "ns"}},
		{"get of too many keys", &GetRecords{Namespace: "ns", KeyHashes: make([]Hash, MaxRecordBatch+1)}},
		{"get without namespace", &GetRecords{KeyHashes: []Hash{{1}}}},
		{"put without records", &PutRecords{Namespace: "ns"}},
		{"put of a record without envelope", &PutRecords{Namespace: "ns", Records: []Record{{}}}},
		{"list of too many not found", &RecordList{NotFound: make([]Hash, MaxRecordBatch+1)}},
		{"list with an empty record", &RecordList{Records: []Record{{}}}},
		{"packed entry without writer", &RecordList{Packed: []PackedEntry{{KeyHash: Hash{1}}}}},
		{"packed writer too long", &RecordList{Packed: []PackedEntry{{Writer: make([]byte, MaxWriterKey+1)}}}},
		{"put with fewer references than records", &PutRecords{Namespace: "ns", Records: []Record{{Envelope: []byte("e")}, {Envelope: []byte("f")}},
			Packed: []PackedRef{{}}}},
		{"page of too many entries", &RecordPage{Packed: make([]PackedEntry, MaxRecordPage+1)}},
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

// FuzzDecodeStorageBatch is FuzzDecode seeded with the batched record
// messages.
func FuzzDecodeStorageBatch(f *testing.F) {
	for _, msg := range sampleStorageBatchMessages() {
		b, err := Encode(0, msg)
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
		if _, msg2, err := Decode(again); err != nil || !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("round trip changed %v: %v", msg.Type(), err)
		}
	})
}
