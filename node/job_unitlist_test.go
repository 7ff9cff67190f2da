package node

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
)

// testUnitList returns a unit list of n units of 4 segments each.
func testUnitList(t *testing.T, n int) *unitList {
	t.Helper()
	units := make([]sched.Unit, n)
	for i := range units {
		units[i] = sched.Unit{ID: sched.UnitID(i), Readings: 4}
		for j := range 4 {
			units[i].Segments = append(units[i].Segments, sched.Segment{Key: fmt.Sprintf("seg/library/s%03d/%d", i, j),
				Readings: 1, Holders: []sched.WorkerID{"a", "b"}})
		}
	}
	list, err := newUnitList(units)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// unitParts cuts a list as sendUnitList does, into parts of at most
// limit bytes.
func unitParts(job string, list *unitList, limit int) []*wire.JobUnits {
	parts, per := partSizes(len(list.bytes), limit)
	var out []*wire.JobUnits
	for i := range parts {
		out = append(out, &wire.JobUnits{JobID: job, Digest: list.digest[:], Part: uint32(i), Parts: uint32(parts),
			Size: uint64(len(list.bytes)), Bytes: list.bytes[i*per : min((i+1)*per, len(list.bytes))]})
	}
	return out
}

func TestUnitListPartsOutOfOrder(t *testing.T) {
	list := testUnitList(t, 50)
	parts := unitParts("j", list, 500)
	if len(parts) < 4 {
		t.Fatalf("a list of %d bytes cut into %d parts, want at least 4", len(list.bytes), len(parts))
	}
	l := newUnitLists(1 << 20)
	now := time.Now()
	// Last part first, then the others backwards, each part twice.
	for i := len(parts) - 1; i >= 1; i-- {
		for range 2 {
			got, err := l.add(now, parts[i])
			if err != nil || got != nil {
				t.Fatalf("part %d of %d: %v, %v; want it held without a list", i, len(parts), got, err)
			}
		}
	}
	if l.take("j", list.digest[:]) != nil {
		t.Fatal("take returned a list with part 0 missing")
	}
	got, err := l.add(now, parts[0])
	if err != nil || got == nil {
		t.Fatalf("last missing part: %v, %v; want the whole list", got, err)
	}
	if !reflect.DeepEqual(got.units, list.units) || !bytes.Equal(got.bytes, list.bytes) {
		t.Fatal("the assembled list differs from the one sent")
	}
	if l.bytesHeld() != len(list.bytes) {
		t.Errorf("%d bytes held for a whole list of %d", l.bytesHeld(), len(list.bytes))
	}
	if again, err := l.add(now, parts[1]); err != nil || again != got {
		t.Errorf("a part resent after the list was whole: %v, %v; want the same list", again, err)
	}
	if l.take("other", list.digest[:]) != nil {
		t.Error("take returned the list for another job")
	}
	if l.take("j", list.digest[:]) != got {
		t.Error("take did not return the whole list")
	}
	if l.bytesHeld() != 0 || l.take("j", list.digest[:]) != nil {
		t.Errorf("after take: %d bytes held and the list still there; want none", l.bytesHeld())
	}
}

func TestUnitListPartsRejected(t *testing.T) {
	list := testUnitList(t, 50)
	other := testUnitList(t, 51)
	now := time.Now()
	cases := []struct {
		name string
		// send returns the parts to send; the last must fail.
		send func() []*wire.JobUnits
	}{
		{"wrong digest", func() []*wire.JobUnits {
			parts := unitParts("j", list, 500)
			for _, p := range parts {
				p.Digest = other.digest[:]
			}
			return parts
		}},
		{"bytes that do not decode", func() []*wire.JobUnits {
			junk := &unitList{bytes: bytes.Repeat([]byte{0xff}, 1200)}
			junk.digest = sha256.Sum256(junk.bytes)
			return unitParts("j", junk, 500)
		}},
		{"part changed", func() []*wire.JobUnits {
			parts := unitParts("j", list, 500)
			changed := *parts[0]
			changed.Bytes = bytes.Clone(changed.Bytes)
			changed.Bytes[0] ^= 1
			return []*wire.JobUnits{parts[0], &changed}
		}},
		{"part size", func() []*wire.JobUnits {
			p := unitParts("j", list, 500)[0]
			p.Bytes = p.Bytes[1:]
			return []*wire.JobUnits{p}
		}},
		{"parts differ", func() []*wire.JobUnits {
			parts := unitParts("j", list, 500)
			second := *parts[1]
			second.Parts++
			return []*wire.JobUnits{parts[0], &second}
		}},
		{"over the budget", func() []*wire.JobUnits {
			return unitParts("j", testUnitList(t, 2000), 500)[:1]
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newUnitLists(64 << 10)
			parts := c.send()
			for _, p := range parts[:len(parts)-1] {
				if _, err := l.add(now, p); err != nil {
					t.Fatalf("part %d: %v", p.Part, err)
				}
			}
			got, err := l.add(now, parts[len(parts)-1])
			if !errors.Is(err, ErrUnitList) || got != nil {
				t.Fatalf("add = %v, %v; want ErrUnitList", got, err)
			}
			t.Log(err)
		})
	}

	// A list whose digest did not match is dropped, so its bytes are
	// free again.
	l := newUnitLists(1 << 20)
	parts := unitParts("j", list, 500)
	for _, p := range parts {
		p.Digest = other.digest[:]
		l.add(now, p)
	}
	if l.bytesHeld() != 0 {
		t.Errorf("%d bytes held after a list failed its digest, want 0", l.bytesHeld())
	}
}

func TestUnitListBudgetAndExpiry(t *testing.T) {
	list := testUnitList(t, 50)
	size := len(list.bytes)
	l := newUnitLists(2*size + size/2)
	now := time.Now()
	for i, job := range []string{"a", "b"} {
		if _, err := l.add(now.Add(time.Duration(i)*time.Minute), unitParts(job, list, 500)[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.add(now, unitParts("c", list, 500)[0]); !errors.Is(err, ErrUnitList) {
		t.Fatalf("a third list past the budget: %v, want ErrUnitList", err)
	}

	// Job a's list gets no part for jobUnitListTTL and goes; b's last
	// part came a minute later and stays.
	l.expire(now.Add(jobUnitListTTL))
	if l.bytesHeld() != size {
		t.Fatalf("%d bytes held after a's list expired, want b's %d", l.bytesHeld(), size)
	}
	if _, err := l.add(now.Add(jobUnitListTTL), unitParts("c", list, 500)[0]); err != nil {
		t.Fatalf("c's list after a's expired: %v", err)
	}

	// A whole list that no state takes expires too.
	var whole *unitList
	for _, p := range unitParts("b", list, 500) {
		got, err := l.add(now.Add(jobUnitListTTL), p)
		if err != nil {
			t.Fatal(err)
		}
		whole = got
	}
	if whole == nil {
		t.Fatal("b's list is not whole after its every part")
	}
	l.expire(now.Add(3 * jobUnitListTTL))
	if l.bytesHeld() != 0 || l.take("b", list.digest[:]) != nil {
		t.Errorf("%d bytes held and b's list takeable after its time, want none", l.bytesHeld())
	}
}
