package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/yuinet/yui/network/wire"
)

// putPackedBatch writes count small records with PutBatch through node 0
// and returns their keys and values.
func putPackedBatch(t *testing.T, c *testCluster, ns string, count int) ([]string, map[string][]byte) {
	t.Helper()
	keys := make([]string, count)
	values := make(map[string][]byte, count)
	batch := make([]BatchRecord, count)
	for i := range batch {
		keys[i] = fmt.Sprintf("docs/%03d", i)
		values[keys[i]] = testValue(40+i, byte(i))
		batch[i] = BatchRecord{Key: keys[i], Value: values[keys[i]]}
	}
	if _, err := c.node(0).store.PutBatch(context.Background(), "", ns, batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	return keys, values
}

// TestBatchStoresPackedEntries checks that directory holders keep only a
// compact entry per batch record, of well under 100 bytes, and that Get,
// GetBatch and List read the records through them.
func TestBatchStoresPackedEntries(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	s := c.node(0).store
	keys, values := putPackedBatch(t, c, "packed", 50)

	holders := 0
	for _, n := range c.live() {
		packed, full := countHeads(t, n)
		if packed+full == 0 {
			continue
		}
		holders++
		if packed != len(keys) || full != 0 {
			t.Errorf("holder %s keeps %d packed and %d full entries, want %d packed", n.id.ID.Short(), packed, full, len(keys))
		}
		// The descriptor comes on top of the packed heads of about 28
		// bytes each.
		perRecord := n.holder.Stats().MetaBytes / int64(len(keys))
		t.Logf("holder %s keeps %d metadata bytes per record", n.id.ID.Short(), perRecord)
		if perRecord > 100 {
			t.Errorf("holder %s keeps %d metadata bytes per record, want under 100", n.id.ID.Short(), perRecord)
		}
	}
	if holders != 3 {
		t.Errorf("%d holders keep the directory, want 3", holders)
	}

	var b bytes.Buffer
	if _, err := s.Get(ctx, "", "packed", keys[7], &b, GetOptions{}); err != nil || !bytes.Equal(b.Bytes(), values[keys[7]]) {
		t.Errorf("Get %s = %d bytes, %v; want the %d written", keys[7], b.Len(), err, len(values[keys[7]]))
	}
	got, err := s.GetBatch(ctx, "", "packed", keys)
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	for i, v := range got {
		if v.Err != nil || !bytes.Equal(v.Value, values[keys[i]]) {
			t.Errorf("GetBatch %s: %v, %d bytes", keys[i], v.Err, len(v.Value))
		}
	}
	list, err := s.List(ctx, "", "packed", "docs/")
	if err != nil || len(list) != len(keys) {
		t.Errorf("List = %d records, %v; want %d", len(list), err, len(keys))
	}
}

// countHeads counts the packed and full record heads a node holds.
func countHeads(t *testing.T, n *testNode) (packed, full int) {
	t.Helper()
	dirs, err := n.holder.heldDirs()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		err := n.holder.scanDir(d.Namespace, d.Dir, wire.Hash{}, func(_ wire.Hash, head *recordHead, rec *wire.Record) error {
			if head.Packed != nil {
				packed++
			} else {
				full++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return packed, full
}

// TestForgedPackedEntryIgnored gives every directory holder but one a
// packed entry with a newer version than the real one, pointing at the
// real version in its segment. Readers must find that the segment's
// version does not match and return the real record from the last
// holder.
func TestForgedPackedEntryIgnored(t *testing.T) {
	c := newCluster(t, 3, smallParams(1, 2, 3))
	ctx := context.Background()
	s := c.node(0).store
	keys, values := putPackedBatch(t, c, "forged", 5)

	forged := 0
	for _, n := range c.live()[1:] {
		dirs, _ := n.holder.heldDirs()
		for _, d := range dirs {
			var heads []wire.Hash
			_ = n.holder.scanDir(d.Namespace, d.Dir, wire.Hash{}, func(k wire.Hash, _ *recordHead, _ *wire.Record) error {
				heads = append(heads, k)
				return nil
			})
			for _, k := range heads {
				key := recordKey(d.Namespace, d.Dir, k)
				head, err := n.holder.meta.getHead(key)
				if err != nil {
					t.Fatal(err)
				}
				head.Version += 1 << 20
				if err := n.holder.meta.putHead(key, head); err != nil {
					t.Fatal(err)
				}
				forged++
			}
		}
	}
	if forged == 0 {
		t.Fatal("no packed entry was forged")
	}

	got, err := s.GetBatch(ctx, "", "forged", keys)
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	for i, v := range got {
		if v.Err != nil || !bytes.Equal(v.Value, values[keys[i]]) {
			t.Errorf("GetBatch %s with forged entries: %v, %d bytes; want the real record", keys[i], v.Err, len(v.Value))
		}
	}
}

// TestPackedRecordsGrantAndDelete grants read access to records written
// in a batch, reads them as the grantee, and deletes one.
func TestPackedRecordsGrantAndDelete(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	owner, other := c.node(0).store, c.node(1).store
	bob, err := other.CreateUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	keys, values := putPackedBatch(t, c, "granted", 10)
	if err := owner.Grant(ctx, "", "granted", "docs/", bob, Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	var b bytes.Buffer
	if _, err := other.Get(ctx, "bob", "granted", keys[3], &b, GetOptions{}); err != nil || !bytes.Equal(b.Bytes(), values[keys[3]]) {
		t.Errorf("bob reads a batch record written before the grant: %d bytes, %v", b.Len(), err)
	}

	if err := owner.Delete(ctx, "", "granted", keys[4]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := owner.Get(ctx, "", "granted", keys[4], &b, GetOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a deleted batch record: %v, want ErrNotFound", err)
	}
	list, err := owner.List(ctx, "", "granted", "")
	if err != nil || len(list) != len(keys)-1 {
		t.Errorf("List after a delete = %d records, %v; want %d", len(list), err, len(keys)-1)
	}
}

// TestVersionSegmentCompressed packs the versions of 40 records by one
// writer and checks that the segment is stored compressed, shorter than
// the CBOR array of its versions, and that both forms read back.
func TestVersionSegmentCompressed(t *testing.T) {
	c := newCluster(t, 1, smallParams(1, 0, 1))
	var records []*wire.Record
	var encoded [][]byte
	for i := range 40 {
		rec, _ := sealedRecord(t, c.node(0), "ns", fmt.Sprint("sensor/", i), fmt.Sprintf(`{"t":%d.5}`, 20+i))
		b, err := encodeRecord(&rec.Record)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, &rec.Record)
		encoded = append(encoded, b)
	}
	refs, segments, err := packVersions(records)
	if err != nil {
		t.Fatal(err)
	}
	if len(segments) != 1 {
		t.Fatalf("packVersions made %d segments, want 1", len(segments))
	}
	if refs[0].Segment != sha256.Sum256(segments[0]) {
		t.Error("segment reference is not the SHA-256 of the stored segment")
	}
	plain, err := marshal("version segment", encoded)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("version segment of %d records: %d bytes stored, %d in CBOR", len(records), len(segments[0]), len(plain))
	if len(segments[0]) >= len(plain) {
		t.Errorf("stored segment takes %d bytes, want fewer than the %d of its CBOR array", len(segments[0]), len(plain))
	}

	for _, form := range []struct {
		name    string
		segment []byte
	}{{"stored", segments[0]}, {"CBOR written before compression", plain}} {
		versions, err := decodeVersions(form.segment)
		if err != nil {
			t.Fatalf("%s segment: %v", form.name, err)
		}
		if len(versions) != len(encoded) {
			t.Fatalf("%s segment holds %d versions, want %d", form.name, len(versions), len(encoded))
		}
		for i := range versions {
			if !bytes.Equal(versions[i], encoded[i]) {
				t.Errorf("%s segment: version %d differs from the one packed", form.name, i)
			}
		}
	}
}

// TestVersionSegmentInflateLimit checks that a compressed segment that
// inflates past maxVersionSegment is rejected as corrupt.
func TestVersionSegmentInflateLimit(t *testing.T) {
	big, err := deflateSegment(make([]byte, maxVersionSegment+1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeVersions(big); !errors.Is(err, ErrCorrupt) {
		t.Errorf("segment inflating to %d bytes: error %v, want ErrCorrupt", maxVersionSegment+1, err)
	}
}

// FuzzVersionSegment decodes arbitrary bytes as a version segment and
// opens every version in it, as a reader does with a segment whose ID
// matched: neither step may panic.
func FuzzVersionSegment(f *testing.F) {
	c := newCluster(f, 1, smallParams(1, 0, 1))
	rec, d := sealedRecord(f, c.node(0), "ns", "k", "v")
	_, segments, err := packVersions([]*wire.Record{&rec.Record, &rec.Record})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(segments[0])
	f.Add([]byte{0x81, 0x40})
	plain, err := marshal("version segment", [][]byte{{0x80}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Fuzz(func(t *testing.T, b []byte) {
		versions, err := decodeVersions(b)
		if err != nil {
			return
		}
		for i := range versions {
			_, _, _ = openVersion(d, wire.PackedRef{Index: uint16(i)}, versions)
		}
	})
}
