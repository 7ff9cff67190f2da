package sensor

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// FuzzDecodeJSON checks that DecodeJSON never panics, that what it
// accepts is valid, and that encoding an accepted reading gives JSON that
// decodes to the same reading and encodes to the same bytes again.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"source":"R1-12","time":"2011-03-04T10:00:00Z","fields":{"temperature":21.2,"status":"ok"},"location":{"lat":50.8,"lon":4.4}}`,
		`{"source":"7","time":1299232800000.5,"fields":{"t":null},"location":{"x":12.5,"y":3}}`,
		`{"fields":{"a":-0,"b":1e-320,"c":"\u0000"}}`,
		`{"source":"s","time":0,"location":null}`,
		`{"source":"s","time":0,"fields":{"a":{"b":[1]}}}`,
		`[{"source":"s"}]`,
		`{"source":"bad"}`,
		`{"source":"s","fields":{}}`,
	} {
		f.Add([]byte(seed))
	}
	opts := JSONOptions{Source: "default", Time: time.Unix(1, 0)}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeJSON(data, opts)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps none of the package's errors", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid reading: %v", err)
		}
		ingested, err := DecodeJSON(data, JSONOptions{Source: opts.Source, Time: opts.Time, RequireFields: true})
		if (err == nil) != (len(r.Fields) > 0) {
			t.Fatalf("RequireFields on a reading with %d fields: %v", len(r.Fields), err)
		}
		if err == nil && !ingested.Equal(&r) {
			t.Fatalf("RequireFields decoded %+v, want %+v", ingested, r)
		}
		strict, err := DecodeJSON(data, JSONOptions{Source: opts.Source, Time: opts.Time, RejectEpochSeconds: true})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("RejectEpochSeconds failed with %v, want ErrInvalid", err)
		}
		if err == nil && !strict.Equal(&r) {
			t.Fatalf("RejectEpochSeconds decoded %+v, want %+v", strict, r)
		}
		b, err := AppendJSON(nil, &r)
		if err != nil {
			t.Fatalf("AppendJSON of an accepted reading: %v", err)
		}
		back, err := DecodeJSON(b, JSONOptions{})
		if err != nil {
			t.Fatalf("DecodeJSON(%s) of an encoded reading: %v", b, err)
		}
		if !back.Equal(&r) {
			t.Fatalf("round trip = %+v, want %+v", back, r)
		}
		again, _ := AppendJSON(nil, &back)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%s\n%s", again, b)
		}
	})
}

// FuzzJSONReader checks that a JSONReader ends on any input with io.EOF or
// ErrTooLarge, never loops, and numbers its lines in order.
func FuzzJSONReader(f *testing.F) {
	f.Add([]byte("{\"source\":\"a\",\"time\":1}\n\n{\"x\":1}\r\n{\"source\":\"b\",\"time\":2}"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jr := NewJSONReader(bytes.NewReader(data), JSONOptions{MaxLineBytes: 64, MaxBodyBytes: 512})
		last := 0
		for range len(data) + 2 {
			_, line, err := jr.Next()
			if errors.Is(err, io.EOF) || errors.Is(err, ErrTooLarge) && !isLineError(err) {
				return
			}
			if line <= last {
				t.Fatalf("line %d after line %d", line, last)
			}
			last = line
		}
		t.Fatalf("no end after %d calls on %d bytes", len(data)+2, len(data))
	})
}

func isLineError(err error) bool {
	var le *LineError
	return errors.As(err, &le)
}
