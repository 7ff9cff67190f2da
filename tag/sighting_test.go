package tag

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// exampleReport is the example of docs/tags.md.
const exampleReport = `{
  "relay": "shelter-3.gw1",
  "position": {"x": 120.5, "y": 48.0},
  "sightings": [
    {"id": "5f1c0a9e3b7d2248", "rssi": -67, "time": "2026-12-04T18:20:05Z"},
    {"id": "a03e77c1d9f40b12", "rssi": -81, "time": "2026-12-04T18:20:06.250Z"}
  ]
}`

var exampleNow = time.Date(2026, 12, 4, 18, 21, 0, 0, time.UTC)

func TestDecodeReportExample(t *testing.T) {
	rep, err := DecodeReport(strings.NewReader(exampleReport), exampleNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Relay != "shelter-3.gw1" || rep.Position == nil || *rep.Position != (Point{120.5, 48}) {
		t.Errorf("report header %q at %v", rep.Relay, rep.Position)
	}
	if len(rep.Sightings) != 2 {
		t.Fatalf("%d sightings, want 2", len(rep.Sightings))
	}
	s := rep.Sightings[1]
	if s.ID.String() != "a03e77c1d9f40b12" || s.Relay != "shelter-3.gw1" || s.RSSI != -81 ||
		!s.Time.Equal(time.Date(2026, 12, 4, 18, 20, 6, 250e6, time.UTC)) {
		t.Errorf("second sighting decoded as %+v", s)
	}
}

func TestDecodeReportRejects(t *testing.T) {
	sighting := func(fields string) string {
		return `{"relay":"r1","sightings":[{` + fields + `}]}`
	}
	ok := `"id":"5f1c0a9e3b7d2248","rssi":-60,"time":"2026-12-04T18:20:05Z"`
	tests := []struct {
		name, body string
	}{
		{"not json", `relay=r1`},
		{"unknown field", `{"relay":"r1","sightings":[],"extra":1}`},
		{"no sightings", `{"relay":"r1","sightings":[]}`},
		{"short id", sighting(`"id":"5f1c","rssi":-60,"time":"2026-12-04T18:20:05Z"`)},
		{"id not hex", sighting(`"id":"5f1c0a9e3b7d22zz","rssi":-60,"time":"2026-12-04T18:20:05Z"`)},
		{"rssi too strong", sighting(`"id":"5f1c0a9e3b7d2248","rssi":30,"time":"2026-12-04T18:20:05Z"`)},
		{"rssi too weak", sighting(`"id":"5f1c0a9e3b7d2248","rssi":-200,"time":"2026-12-04T18:20:05Z"`)},
		{"no time", sighting(`"id":"5f1c0a9e3b7d2248","rssi":-60`)},
		{"future", sighting(`"id":"5f1c0a9e3b7d2248","rssi":-60,"time":"2026-12-05T18:20:05Z"`)},
		{"too old", sighting(`"id":"5f1c0a9e3b7d2248","rssi":-60,"time":"2026-11-01T18:20:05Z"`)},
		{"no relay", `{"sightings":[{` + ok + `}]}`},
		{"bad relay", `{"relay":"r 1","sightings":[{` + ok + `}]}`},
		{"two values", `{"relay":"r1","sightings":[{` + ok + `}]} {}`},
		{"bad position", `{"relay":"r1","position":{"x":1e300,"y":0},"sightings":[{` + ok + `}]}`},
		{"too large", `{"relay":"r1","sightings":[` + strings.Repeat(`{`+ok+`},`, MaxReportBytes/80) + `{` + ok + `}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeReport(strings.NewReader(tt.body), exampleNow)
			if !errors.Is(err, ErrInvalidSighting) {
				t.Errorf("DecodeReport = %v, want ErrInvalidSighting", err)
			}
		})
	}
}

func TestDecodeReportTooMany(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"relay":"r1","sightings":[`)
	for i := range MaxReportSightings + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"5f1c0a9e3b7d2248","rssi":-60,"time":"2026-12-04T18:20:05Z"}`)
	}
	b.WriteString(`]}`)
	if b.Len() > MaxReportBytes {
		t.Skipf("report of %d sightings is %d bytes, over the byte limit", MaxReportSightings+1, b.Len())
	}
	if _, err := DecodeReport(&b, exampleNow); !errors.Is(err, ErrInvalidSighting) {
		t.Errorf("DecodeReport of %d sightings = %v, want ErrInvalidSighting", MaxReportSightings+1, err)
	}
}

// FuzzDecodeReport checks that no input crashes the decoder and that
// every report it accepts passes its own checks again after a JSON round
// trip.
func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(exampleReport))
	f.Add([]byte(`{"relay":"r1","sightings":[{"id":"5f1c0a9e3b7d2248","relay":"r2","rssi":-60.5,"time":"2026-12-04T18:20:05Z"}]}`))
	f.Add([]byte(`{"relay":"","sightings":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := DecodeReport(bytes.NewReader(data), exampleNow)
		if err != nil {
			if !errors.Is(err, ErrInvalidSighting) {
				t.Fatalf("error %v is not ErrInvalidSighting", err)
			}
			return
		}
		for i := range rep.Sightings {
			if err := rep.Sightings[i].Check(exampleNow); err != nil {
				t.Fatalf("accepted sighting %d fails Check: %v", i, err)
			}
		}
	})
}
