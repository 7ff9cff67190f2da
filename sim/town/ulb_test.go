package town

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseULBHead(t *testing.T) {
	d, err := LoadULB("testdata/n1-head.txt")
	if err != nil {
		t.Fatal(err)
	}
	if d.Lines != 700 {
		t.Errorf("lines = %d, want 700", d.Lines)
	}
	if len(d.Motes) != 19 {
		t.Errorf("motes = %d, want 19", len(d.Motes))
	}

	// "16 13 8 234" twice, in minutes 0 and 1: mote 16 heard mote 13 with
	// raw LQI 8 (128 - 8 = 120) and RSSI register 234 (-22, so -67 dBm).
	// Mote 16 reported in minutes 0, 1 and 2.
	var link *ULBLink
	for k := range d.Links {
		if d.Links[k].Sender == 13 && d.Links[k].Receiver == 16 {
			link = &d.Links[k]
		}
	}
	if link == nil {
		t.Fatal("link 13 -> 16 missing")
	}
	if link.Samples != 2 || link.Minutes != 2 {
		t.Errorf("samples, minutes = %d, %d, want 2, 2", link.Samples, link.Minutes)
	}
	if link.LQI != 120 {
		t.Errorf("LQI = %g, want 120", link.LQI)
	}
	if link.RSSI != -67 {
		t.Errorf("RSSI = %g dBm, want -67", link.RSSI)
	}
	if math.Abs(link.Presence-2.0/3) > 1e-9 {
		t.Errorf("presence = %g, want 2/3", link.Presence)
	}
}

func TestULBLQITransform(t *testing.T) {
	for raw, want := range map[int]float64{0: 128, 8: 120, 128: 0, 129: 254, 245: 138, 255: 128} {
		if got := ulbLQI(raw); got != want {
			t.Errorf("ulbLQI(%d) = %g, want %g", raw, got, want)
		}
	}
}

func TestParseULBRejects(t *testing.T) {
	for name, line := range map[string]string{
		"six fields":      "1163438002000 0 0 16 13 8",
		"eight fields":    "1163438002000 0 0 16 13 8 234 1",
		"decimal comma":   "1163438002000 0 0 16 13 8,5 234",
		"negative":        "1163438002000 0 0 -16 13 8 234",
		"rssi above byte": "1163438002000 0 0 16 13 8 256",
		"self link":       "1163438002000 0 0 16 16 8 234",
		"minute too big":  "1163438002000 0 99999999 16 13 8 234",
		"long line":       strings.Repeat("1", maxULBLineBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseULB(strings.NewReader("1163438002000 0 0 16 15 6 235\n" + line + "\n"))
			if !errors.Is(err, ErrInvalidULB) {
				t.Fatalf("ParseULB = %v, want ErrInvalidULB", err)
			}
			if !strings.Contains(err.Error(), "line 2") {
				t.Errorf("error %q does not name line 2", err)
			}
		})
	}
}

// TestULBGraphIsMeasured checks the full N1 graph against facts counted
// with awk: 19 motes, each listing the 18 others.
func TestULBGraphIsMeasured(t *testing.T) {
	if _, ok := findShared("sensors/ulb-library1/N1.txt"); !ok {
		t.Skip("the shared N1.txt is absent")
	}
	d := n1(t)
	if d.Lines != 127_903 {
		t.Errorf("lines = %d, want 127903", d.Lines)
	}
	g := d.Graph(mustFit(t, d))
	if g.Len() != 19 {
		t.Errorf("relays = %d, want 19", g.Len())
	}
	for k, deg := range g.Degrees() {
		if deg != 18 {
			t.Errorf("relay %s hears %d relays, want 18", g.Nodes[k].Name, deg)
		}
	}
}

func FuzzParseULB(f *testing.F) {
	head, err := os.ReadFile("testdata/n1-head.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(head[:2000])
	f.Add([]byte("1163438002000 0 0 16 13 8 234\n"))
	f.Add([]byte("1 2 3 4 5 6\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseULB(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, ErrInvalidULB) {
				t.Fatalf("error %v does not wrap ErrInvalidULB", err)
			}
			return
		}
		for _, l := range d.Links {
			if l.Presence <= 0 || l.Presence > 1 {
				t.Fatalf("link %+v has presence outside (0, 1]", l)
			}
		}
		if _, err := FitULB(d); err != nil && !errors.Is(err, ErrTooFewLinks) {
			t.Fatalf("FitULB: %v", err)
		}
	})
}
