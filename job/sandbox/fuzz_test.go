package sandbox

import (
	"testing"
)

// FuzzDecodeReadings checks that module output never crashes the decoder
// and that whatever it accepts encodes and decodes to the same readings.
func FuzzDecodeReadings(f *testing.F) {
	f.Add([]byte(`{"source":"a","time":"2006-01-02T15:04:05.5Z","fields":[{"name":"t","value":21.5},{"name":"n","value":"x"},{"name":"m","value":null}],"location":{"x":1,"y":2}}`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeReadings(b, 1<<20)
		if err != nil {
			return
		}
		again, err := EncodeReadings(got)
		if err != nil {
			t.Fatalf("decoded readings do not encode: %v", err)
		}
		back, err := DecodeReadings(again, len(again)+1)
		if err != nil {
			t.Fatalf("re-encoded readings do not decode: %v", err)
		}
		for i := range got {
			if !back[i].Equal(&got[i]) {
				t.Fatalf("reading %d changed: %+v to %+v", i, got[i], back[i])
			}
		}
	})
}
