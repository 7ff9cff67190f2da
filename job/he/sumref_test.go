package he

import (
	"errors"
	"strings"
	"testing"
)

func TestSumRefsRoundTrip(t *testing.T) {
	refs := make([]SumRef, MaxSumRefs)
	for i := range refs {
		refs[i] = SumRef{Node: [NodeIDSize]byte{byte(i), 7}, Unit: uint32(2 * i), Epoch: 3, Lease: uint64(i), Sums: uint32(i%MaxUnitSums) + 1}
	}
	b, err := EncodeSumRefs(refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 1<<20 {
		t.Errorf("%d references take %d bytes, not below the 1 MiB of a job result", len(refs), len(b))
	}
	if !IsSumRefs(b) {
		t.Error("IsSumRefs = false for encoded references")
	}
	got, err := DecodeSumRefs(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(refs) {
		t.Fatalf("decoded %d references, want %d", len(got), len(refs))
	}
	for i := range refs {
		if got[i] != refs[i] {
			t.Fatalf("reference %d = %+v, want %+v", i, got[i], refs[i])
		}
	}
}

func TestSumRefsLimits(t *testing.T) {
	if _, err := EncodeSumRefs(make([]SumRef, MaxSumRefs+1)); !errors.Is(err, ErrTooManyPages) {
		t.Errorf("%d references: error %v, want ErrTooManyPages", MaxSumRefs+1, err)
	}
	good, err := EncodeSumRefs([]SumRef{{Unit: 1, Sums: 1}, {Unit: 4, Sums: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		refs []SumRef
		want string
	}{
		{"unit twice", []SumRef{{Unit: 1, Sums: 1}, {Unit: 1, Sums: 1}}, "unit 1 follows unit 1"},
		{"units out of order", []SumRef{{Unit: 4, Sums: 1}, {Unit: 1, Sums: 1}}, "unit 1 follows unit 4"},
		{"no sums", []SumRef{{Unit: 1}}, "0 page sums"},
		{"too many sums", []SumRef{{Unit: 1, Sums: MaxUnitSums + 1}}, "1025 page sums"},
	} {
		if _, err := EncodeSumRefs(c.refs); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("encode %s: error %v, want ErrMalformed naming %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "version 6"},
		{"page sums", []byte{pageSumsVersion, 0, 0, 0, 0}, "version 6"},
		{"cut short", good[:len(good)-1], "take 112 bytes, but 111 follow"},
		{"count too large", []byte{sumRefsVersion, 0, 0, 0x40, 1}, "16385 sum references"},
	} {
		if _, err := DecodeSumRefs(c.b); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decode %s: error %v, want ErrMalformed naming %q", c.name, err, c.want)
		}
	}
	swapped := append([]byte{}, good...)
	copy(swapped[5+NodeIDSize:], []byte{0, 0, 0, 9})
	if _, err := DecodeSumRefs(swapped); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "unit 4 follows unit 9") {
		t.Errorf("decode units out of order: error %v", err)
	}
}
