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

func TestDigestRefsRoundTrip(t *testing.T) {
	refs := make([]SumRef, MaxDigestRefs)
	for i := range refs {
		unit := uint32(i / MaxUnitRefs)
		refs[i] = SumRef{Node: [NodeIDSize]byte{byte(i % MaxUnitRefs), 1}, Unit: unit, Epoch: 2, Lease: uint64(i), Sums: 3,
			Digest: [DigestSize]byte{byte(unit), byte(unit >> 8), 9}}
	}
	b, err := EncodeSumRefs(refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 1<<20 {
		t.Errorf("%d references with digests take %d bytes, not below the 1 MiB of a job result", len(refs), len(b))
	}
	if !IsSumRefs(b) {
		t.Error("IsSumRefs = false for references with digests")
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

func TestDigestRefsLimits(t *testing.T) {
	d1, d2 := [DigestSize]byte{1}, [DigestSize]byte{2}
	a, b := [NodeIDSize]byte{0xa}, [NodeIDSize]byte{0xb}
	if _, err := EncodeSumRefs([]SumRef{{Node: a, Unit: 1, Sums: 1, Digest: d1}, {Node: b, Unit: 1, Sums: 2, Digest: d1}}); err != nil {
		t.Errorf("two references to one unit with one digest: %v", err)
	}
	six := make([]SumRef, MaxUnitRefs+1)
	for i := range six {
		six[i] = SumRef{Node: [NodeIDSize]byte{byte(i)}, Unit: 4, Sums: 1, Digest: d1}
	}
	for _, c := range []struct {
		name string
		refs []SumRef
		want string
	}{
		{"digests differ in a unit", []SumRef{{Node: a, Unit: 1, Sums: 1, Digest: d1}, {Node: b, Unit: 1, Sums: 1, Digest: d2}}, "differ in digest"},
		{"node twice in a unit", []SumRef{{Node: a, Unit: 1, Sums: 1, Digest: d1}, {Node: a, Unit: 1, Sums: 1, Digest: d1}}, "repeat a node"},
		{"too many in a unit", six, "more than 5 references"},
		{"digest missing", []SumRef{{Node: a, Unit: 1, Sums: 1, Digest: d1}, {Node: b, Unit: 2, Sums: 1}}, "all or none"},
		{"digest after none", []SumRef{{Node: a, Unit: 1, Sums: 1}, {Node: b, Unit: 2, Sums: 1, Digest: d1}}, "all or none"},
		{"units out of order", []SumRef{{Node: a, Unit: 2, Sums: 1, Digest: d1}, {Node: b, Unit: 1, Sums: 1, Digest: d1}}, "unit 1 follows unit 2"},
	} {
		if _, err := EncodeSumRefs(c.refs); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("encode %s: error %v, want ErrMalformed naming %q", c.name, err, c.want)
		}
	}
	many := make([]SumRef, MaxDigestRefs+1)
	for i := range many {
		many[i] = SumRef{Unit: uint32(i), Sums: 1, Digest: d1}
	}
	if _, err := EncodeSumRefs(many); !errors.Is(err, ErrTooManyPages) {
		t.Errorf("%d references with digests: error %v, want ErrTooManyPages", len(many), err)
	}
	if _, err := DecodeSumRefs([]byte{digestRefsVersion, 0, 0, 0x2e, 0x81}); !errors.Is(err, ErrMalformed) ||
		!strings.Contains(err.Error(), "11905 sum references") {
		t.Errorf("decode %d references with digests: error %v, want ErrMalformed naming the count", MaxDigestRefs+1, err)
	}
}

func TestSumsDigest(t *testing.T) {
	digest := func(sums ...string) [DigestSize]byte {
		d := NewSumsDigest(len(sums))
		for _, s := range sums {
			d.Add([]byte(s))
		}
		return d.Sum()
	}
	if digest("ab", "c") != digest("ab", "c") {
		t.Error("equal sums give different digests")
	}
	for _, other := range [][]string{{"c", "ab"}, {"a", "bc"}, {"abc"}, {"ab"}, {"ab", "d"}} {
		if digest(other...) == digest("ab", "c") {
			t.Errorf("sums %q have the digest of [ab c]", other)
		}
	}
}
