package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestCreatedCarriedOver writes a key, overwrites it an hour later with
// Put and with PutBatch, and checks that Created stays the first write's
// time while Modified moves, and that a key written again after a delete
// starts a new Created.
func TestCreatedCarriedOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 4, smallParams(2, 2, 3))
		ctx := context.Background()
		s := c.node(0).store
		put := func(value string) *RecordInfo {
			t.Helper()
			info, err := s.Put(ctx, "", "times", "k", strings.NewReader(value), PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			return info
		}

		first := put("one")
		if !first.Created.Equal(first.Modified) {
			t.Errorf("first write: Created %v, Modified %v; want them equal", first.Created, first.Modified)
		}
		time.Sleep(time.Hour)
		second := put("two, longer than " + strings.Repeat("x", 5000)) // chunked, not inline
		if !second.Created.Equal(first.Created) {
			t.Errorf("overwrite: Created %v, want the first write's %v", second.Created, first.Created)
		}
		if !second.Modified.After(first.Modified) {
			t.Errorf("overwrite: Modified %v, want after %v", second.Modified, first.Modified)
		}

		time.Sleep(time.Hour)
		batch, err := s.PutBatch(ctx, "", "times", []BatchRecord{{Key: "k", Value: []byte("three")}})
		if err != nil {
			t.Fatalf("PutBatch: %v", err)
		}
		if !batch[0].Created.Equal(first.Created) {
			t.Errorf("batch overwrite: Created %v, want %v", batch[0].Created, first.Created)
		}

		var b bytes.Buffer
		got, err := s.Get(ctx, "", "times", "k", &b, GetOptions{})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !got.Created.Equal(first.Created) || !got.Modified.Equal(batch[0].Modified) {
			t.Errorf("Get: Created %v, Modified %v; want %v and %v", got.Created, got.Modified, first.Created, batch[0].Modified)
		}
		if len(got.HiddenGroups) != 0 || len(got.Groups) != 0 {
			t.Errorf("Get shows groups %v and hidden groups %v, want none", got.Groups, got.HiddenGroups)
		}
		list, err := s.List(ctx, "", "times", "")
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v; want one record", list, err)
		}
		if !list[0].Created.Equal(first.Created) {
			t.Errorf("List: Created %v, want %v", list[0].Created, first.Created)
		}

		if err := s.Delete(ctx, "", "times", "k"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		again := put("four")
		if !again.Created.Equal(again.Modified) || !again.Created.After(first.Created) {
			t.Errorf("write after delete: Created %v, Modified %v; want a new Created equal to Modified", again.Created, again.Modified)
		}
	})
}
