package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleSearchMessages() []Message {
	return []Message{
		&IndexAdd{Namespace: "ns", Postings: []IndexPosting{
			{Token: Hash{1}, Entry: []byte("sealed entry")},
			{Token: Hash{2}, Entry: []byte{0}},
		}},
		&IndexLookup{Namespace: "ns", Token: Hash{3}},
		&IndexLookup{Namespace: "ns", Token: Hash{4}, After: []byte("cursor"), Limit: 10},
		&IndexEntries{Entries: [][]byte{[]byte("a"), []byte("b")}, Next: []byte("next")},
		&IndexEntries{Entries: [][]byte{}},
		&IndexSync{Namespace: "ns", Partition: 7, Count: 12, Digest: Hash{5}},
		&IndexBuckets{Buckets: []IndexBucket{}},
		&IndexBuckets{Buckets: make([]IndexBucket, IndexBucketCount)},
		&IndexList{Namespace: "ns", Partition: 7, Bucket: 200},
		&IndexList{Namespace: "ns", Partition: 7, Bucket: 1, After: make([]byte, IndexKeySize), Limit: 10},
		&IndexKeys{Keys: [][]byte{make([]byte, IndexKeySize)}, Next: bytes.Repeat([]byte{9}, IndexKeySize)},
		&IndexKeys{Keys: [][]byte{}},
	}
}

func TestSearchRoundTrip(t *testing.T) {
	for _, msg := range sampleSearchMessages() {
		b, err := Encode(9, msg)
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

func TestSearchDecodeRejects(t *testing.T) {
	big := bytes.Repeat([]byte{1}, MaxIndexEntry+1)
	many := make([]IndexPosting, MaxIndexPostings+1)
	for i := range many {
		many[i] = IndexPosting{Entry: []byte{1}}
	}
	manyEntries := make([][]byte, MaxIndexEntries+1)
	for i := range manyEntries {
		manyEntries[i] = []byte{1}
	}
	manyKeys := make([][]byte, MaxIndexKeys+1)
	for i := range manyKeys {
		manyKeys[i] = make([]byte, IndexKeySize)
	}
	tests := []struct {
		name string
		msg  Message
	}{
		{"add without namespace", &IndexAdd{Postings: []IndexPosting{{Entry: []byte{1}}}}},
		{"add without postings", &IndexAdd{Namespace: "ns"}},
		{"add with too many postings", &IndexAdd{Namespace: "ns", Postings: many}},
		{"add with empty entry", &IndexAdd{Namespace: "ns", Postings: []IndexPosting{{}}}},
		{"add with large entry", &IndexAdd{Namespace: "ns", Postings: []IndexPosting{{Entry: big}}}},
		{"lookup with long namespace", &IndexLookup{Namespace: strings.Repeat("n", MaxNamespaceName+1)}},
		{"lookup with long cursor", &IndexLookup{Namespace: "ns", After: make([]byte, MaxIndexCursor+1)}},
		{"lookup with high limit", &IndexLookup{Namespace: "ns", Limit: MaxIndexEntries + 1}},
		{"entries with large entry", &IndexEntries{Entries: [][]byte{big}}},
		{"entries with too many", &IndexEntries{Entries: manyEntries}},
		{"sync without namespace", &IndexSync{Partition: 1}},
		{"buckets of a wrong count", &IndexBuckets{Buckets: make([]IndexBucket, 3)}},
		{"list without namespace", &IndexList{Bucket: 1}},
		{"list with short cursor", &IndexList{Namespace: "ns", After: make([]byte, IndexKeySize-1)}},
		{"list with high limit", &IndexList{Namespace: "ns", Limit: MaxIndexKeys + 1}},
		{"keys with short key", &IndexKeys{Keys: [][]byte{make([]byte, IndexKeySize-1)}}},
		{"keys with too many", &IndexKeys{Keys: manyKeys}},
		{"keys with long cursor", &IndexKeys{Keys: [][]byte{}, Next: make([]byte, IndexKeySize+1)}},
	}
	for _, tt := range tests {
		// Encode does not validate, so it produces what a faulty or
		// hostile peer could send.
		b, err := Encode(1, tt.msg)
		if err != nil {
			t.Fatalf("%s: Encode: %v", tt.name, err)
		}
		if _, _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode error %v, want ErrInvalid", tt.name, err)
		}
	}
}

func FuzzDecodeSearch(f *testing.F) {
	for _, msg := range sampleSearchMessages() {
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
		if err := msg.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid %v: %v", msg.Type(), err)
		}
		again, err := Encode(req, msg)
		if err != nil {
			t.Fatalf("accepted %v does not encode: %v", msg.Type(), err)
		}
		if _, msg2, err := Decode(again); err != nil || !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("round trip changed %v: %#v, %v", msg.Type(), msg2, err)
		}
	})
}
