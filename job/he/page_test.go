package he

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestHoursPerPage(t *testing.T) {
	for _, c := range []struct{ slots, fields, want int }{
		{8192, 0, 8192},
		{8192, 1, 2730},
		{8192, 4, 910},
		{8192, 4095, 1},
		{8192, 4096, 0},
		{0, 1, 0},
		{8192, -1, 0},
	} {
		if got := HoursPerPage(c.slots, c.fields); got != c.want {
			t.Errorf("HoursPerPage(%d, %d) = %d, want %d", c.slots, c.fields, got, c.want)
		}
	}
}

// TestPageOfCoversEveryHourOnce checks that consecutive hours, before
// and after the epoch, fill each page's blocks in order without a gap or
// an overlap, and that HourOf inverts PageOf.
func TestPageOfCoversEveryHourOnce(t *testing.T) {
	for _, fields := range []int{0, 1, 4, 13} {
		perPage, width := HoursPerPage(8192, fields), BlockWidth(fields)
		prevPage, prevOff := PageOf(-3*int64(perPage)-1, perPage, width)
		for hour := -3*int64(perPage) - 0; hour < 3*int64(perPage); hour++ {
			page, off := PageOf(hour, perPage, width)
			switch {
			case off < 0 || off+width > 8192 || off%width != 0:
				t.Fatalf("fields %d hour %d: block at %d does not fit 8192 slots in blocks of %d", fields, hour, off, width)
			case page == prevPage && off != prevOff+width:
				t.Fatalf("fields %d hour %d: offset %d follows %d on page %d", fields, hour, off, prevOff, page)
			case page != prevPage && (page != prevPage+1 || off != 0 || prevOff != (perPage-1)*width):
				t.Fatalf("fields %d hour %d: page %d offset %d follows page %d offset %d", fields, hour, page, off, prevPage, prevOff)
			}
			if back := HourOf(page, off/width, perPage); back != hour {
				t.Fatalf("fields %d: HourOf(PageOf(%d)) = %d", fields, hour, back)
			}
			prevPage, prevOff = page, off
		}
	}
}

// TestPagesAddHoursApart encrypts segments of different hours and the
// same page, adds them without any key, and checks that each hour's
// block decrypts to its own sums, with a repeated hour added up.
func TestPagesAddHoursApart(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 100, Min: -1000, Max: 1000, MaxValues: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const fields = 2
	perPage := HoursPerPage(p.Slots(), fields)
	base := int64(491_000) // an hour in 2026
	page, _ := PageOf(base, perPage, BlockWidth(fields))
	first := HourOf(page, 0, perPage)
	segments := []struct {
		hour int64
		sums SegmentSums
	}{
		{first, SegmentSums{Readings: 3, Sums: []int64{-150, 42}, Counts: []int64{3, 1}}},
		{first + 1, SegmentSums{Readings: 2, Sums: []int64{7, 0}, Counts: []int64{2, 0}}},
		{first + int64(perPage) - 1, SegmentSums{Readings: 1, Sums: []int64{99, 1}, Counts: []int64{1, 1}}},
		{first + 1, SegmentSums{Readings: 5, Sums: []int64{10, 20}, Counts: []int64{4, 5}}},
	}
	agg := NewAggregator(p)
	for _, s := range segments {
		if pg, _ := PageOf(s.hour, perPage, BlockWidth(fields)); pg != page {
			t.Fatalf("hour %d is on page %d, want %d", s.hour, pg, page)
		}
		slots, err := p.SegmentSlots(s.hour, s.sums)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := enc.EncryptSlots(slots)
		if err != nil {
			t.Fatal(err)
		}
		if err := agg.Add(ct); err != nil {
			t.Fatal(err)
		}
	}
	slots, err := key.DecryptSlots(agg.Sum())
	if err != nil {
		t.Fatal(err)
	}
	hours, err := PageHours(slots, page, fields)
	if err != nil {
		t.Fatal(err)
	}
	want := []HourSums{
		{first, SegmentSums{Readings: 3, Sums: []int64{-150, 42}, Counts: []int64{3, 1}}},
		{first + 1, SegmentSums{Readings: 7, Sums: []int64{17, 20}, Counts: []int64{6, 5}}},
		{first + int64(perPage) - 1, SegmentSums{Readings: 1, Sums: []int64{99, 1}, Counts: []int64{1, 1}}},
	}
	if len(hours) != len(want) {
		t.Fatalf("decrypted %d hours %v, want %d", len(hours), hours, len(want))
	}
	for i := range want {
		g, w := hours[i], want[i]
		if g.Hour != w.Hour || g.Readings != w.Readings || !slices.Equal(g.Sums, w.Sums) || !slices.Equal(g.Counts, w.Counts) {
			t.Errorf("hour %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestPageHoursRejectsImpossibleBlocks(t *testing.T) {
	slots := make([]int64, 8192)
	slots[1] = 5 // a sum with no readings
	if _, err := PageHours(slots, 0, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("sum without readings: error %v, want ErrCorrupt", err)
	}
	slots[0], slots[2] = 1, 2 // two values in one reading
	if _, err := PageHours(slots, 0, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("more values than readings: error %v, want ErrCorrupt", err)
	}
	clear(slots)
	slots[8191] = 1 // the slot after 2730 blocks of 3
	if _, err := PageHours(slots, 0, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("value beyond the blocks: error %v, want ErrCorrupt", err)
	}
}

func sealedRecord(t testing.TB, p Params) (*SegmentHeader, []byte) {
	t.Helper()
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 100, Min: -10, Max: 10, MaxValues: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := &SegmentHeader{Source: "0123456789abcdef", Hour: 491_000, Fields: []string{"humidity", "temperature"}, Scale: 100, Bound: 10000}
	h.Page, _ = PageOf(h.Hour, HoursPerPage(p.Slots(), 2), BlockWidth(2))
	slots, err := p.SegmentSlots(h.Hour, SegmentSums{Readings: 1, Sums: []int64{4000, 2150}, Counts: []int64{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := enc.EncryptSlots(slots)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeSegmentRecord(h, ct)
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

func TestSegmentRecordRoundTrip(t *testing.T) {
	p := newParams(t)
	h, b := sealedRecord(t, p)
	got, ct, err := p.DecodeSegmentRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != h.Source || got.Hour != h.Hour || got.Page != h.Page || !slices.Equal(got.Fields, h.Fields) ||
		got.Scale != h.Scale || got.Bound != h.Bound {
		t.Errorf("decoded header %+v, want %+v", got, h)
	}
	again, err := EncodeSegmentRecord(got, ct)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Error("decoded record does not encode back to its bytes")
	}
}

func TestSegmentRecordRejects(t *testing.T) {
	p := newParams(t)
	h, good := sealedRecord(t, p)
	hdr := len(good) - p.CiphertextSize()
	for _, c := range []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"short", func(b []byte) []byte { return b[:10] }, "header alone needs"},
		{"version", func(b []byte) []byte { b[0] = 1; return b }, "version 1"},
		{"page", func(b []byte) []byte { b[1+8+8+7]++; return b }, "on page"},
		{"scale", func(b []byte) []byte { b[1+8+16] = 0x80; return b }, "scale -"},
		{"bound", func(b []byte) []byte { b[1+8+24+7] = 0; b[1+8+24+6] = 0; return b }, "bound 0"},
		{"field order", func(b []byte) []byte {
			i := bytes.Index(b[:hdr], []byte("humidity"))
			copy(b[i:], "zumidity")
			return b
		}, `field "temperature" follows "zumidity"`},
		{"field count", func(b []byte) []byte { b[1+8+32] = 0xff; return b }, "fields, limit 256"},
		{"ciphertext", func(b []byte) []byte { return b[:len(b)-1] }, "bytes, want"},
	} {
		b := c.edit(bytes.Clone(good))
		_, _, err := p.DecodeSegmentRecord(b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrMalformed naming %q", c.name, err, c.want)
		}
	}
	bad := *h
	bad.Source = "XYZ"
	if _, err := EncodeSegmentRecord(&bad, nil); err == nil || !strings.Contains(err.Error(), `"XYZ"`) {
		t.Errorf("bad source: error %v, want one naming it", err)
	}
}

func TestPageSumsRoundTrip(t *testing.T) {
	p := newParams(t)
	_, b := sealedRecord(t, p)
	_, ct, err := p.DecodeSegmentRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	agg := NewPageAggregator(p, MaxPageSums)
	keys := []PageKey{
		{Source: "0123456789abcdef", Page: -1, Fields: []string{"a"}},
		{Page: 3, Fields: []string{"a", "b"}},
		{Source: "0123456789abcdef", Page: 2},
	}
	for _, k := range append(keys, keys[1]) {
		if err := agg.Add(k, ct); err != nil {
			t.Fatal(err)
		}
	}
	if err := agg.Add(PageKey{Page: 9}, ct); !errors.Is(err, ErrTooManyPages) {
		t.Errorf("a fourth key: error %v, want ErrTooManyPages", err)
	}
	enc, err := EncodePageSums(agg.Sums())
	if err != nil {
		t.Fatal(err)
	}
	sums, err := p.DecodePageSums(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 3 {
		t.Fatalf("decoded %d sums, want 3", len(sums))
	}
	again, err := EncodePageSums(sums)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, enc) {
		t.Error("decoded sums do not encode back to their bytes")
	}
	merged := NewPageAggregator(p, MaxPageSums)
	if err := merged.AddSums(sums); err != nil {
		t.Fatal(err)
	}
	if err := merged.AddSums(sums); err != nil {
		t.Fatal(err)
	}
	if n := len(merged.Sums()); n != 3 {
		t.Errorf("merging the same keys twice gave %d sums, want 3", n)
	}
	if len(enc) > 1<<20 {
		t.Errorf("%d page sums take %d bytes, above the 1 MiB of a job result", MaxPageSums, len(enc))
	}
}

func TestSealConfigLimits(t *testing.T) {
	good := SealConfig{Owner: "default", Scale: 100, Bound: 10000}
	b, err := good.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSealConfig(b, 1<<16)
	if err != nil || got != good {
		t.Fatalf("DecodeSealConfig = %+v, %v; want %+v", got, err, good)
	}
	// 2^16 readings of 10^4 at scale 100 make 6.6 × 10^10 units per
	// segment, so 2,147 segments fit below T/2 ≈ 1.4 × 10^14 and 2,148 not.
	if err := good.CheckSum(2147, 1<<16); err != nil {
		t.Errorf("2,147 segments: %v", err)
	}
	if err := good.CheckSum(2148, 1<<16); !errors.Is(err, ErrOverflow) {
		t.Errorf("2,148 segments: error %v, want ErrOverflow", err)
	}
	for _, c := range []struct {
		cfg  SealConfig
		want string
	}{
		{SealConfig{Owner: "", Scale: 100, Bound: 1}, `owner ""`},
		{SealConfig{Owner: "a", Scale: 0, Bound: 1}, "scale 0"},
		{SealConfig{Owner: "a", Scale: 100, Bound: -5}, "bound -5"},
		{SealConfig{Owner: "a", Scale: 1_000_000_000, Bound: 1_000_000_000}, "may sum to"},
	} {
		if err := c.cfg.Check(1 << 16); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.cfg, err, c.want)
		}
	}
	b[0] = 9
	if _, err := DecodeSealConfig(b, 1<<16); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("bad version: error %v", err)
	}
}
