package sensor

import (
	"bytes"
	"testing"
)

// The fuzz targets feed the decoders arbitrary bytes. Each must return an
// error or readings that pass Validate and encode back to the same bytes,
// and never panic.

func FuzzDecode(f *testing.F) {
	r := validReading()
	good, err := Encode(&r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0x85, 0x61, 'a', 0x00, 0x80, 0x80, 0xf6})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid reading: %v", err)
		}
		again, err := Encode(&r)
		if err != nil {
			t.Fatalf("decoded reading does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Decode accepted %x, which encodes back as %x", b, again)
		}
	})
}

func FuzzDecodeSegment(f *testing.F) {
	good, err := EncodeSegment(segmentReadings())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x84, 0x01, 0x80, 0x80, 0x80})
	f.Add([]byte{0x84, 0x01, 0x81, 0x61, 's', 0x80, 0x81, 0x85, 0x00, 0x00, 0x80, 0x80, 0xf6})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := DecodeSegment(b)
		if err != nil {
			return
		}
		for i := range rs {
			if err := rs[i].Validate(); err != nil {
				t.Fatalf("DecodeSegment returned invalid reading %d: %v", i, err)
			}
		}
		again, err := EncodeSegment(rs)
		if err != nil {
			t.Fatalf("decoded segment does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("DecodeSegment accepted %x, which encodes back as %x", b, again)
		}
	})
}
