package sim

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRTTReadsMatrix(t *testing.T) {
	m, err := ParseRTT(strings.NewReader("0\t10\t20\n11\t0\t30.5\n21\t31\t0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hosts() != 3 {
		t.Fatalf("Hosts() = %d, want 3", m.Hosts())
	}
	if got := m.At(1, 2); got != 30.5 {
		t.Errorf("At(1, 2) = %v, want 30.5", got)
	}
	if got := m.At(2, 0); got != 21 {
		t.Errorf("At(2, 0) = %v, want 21", got)
	}
	if m.Missing != 0 {
		t.Errorf("Missing = %d, want 0", m.Missing)
	}
}

func TestParseRTTFillsMissingEntries(t *testing.T) {
	// (0,1) is missing but (1,0) was measured; (0,2) and (2,0) are both
	// missing and get the median of the measured entries 40, 50 and 60.
	m, err := ParseRTT(strings.NewReader("0\t\tNaN\n40\t0\t50\n-1\t60\t0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.At(0, 1); got != 40 {
		t.Errorf("At(0, 1) = %v, want 40 from the reverse direction", got)
	}
	if got := m.At(0, 2); got != 50 {
		t.Errorf("At(0, 2) = %v, want the median 50", got)
	}
	if got := m.At(2, 0); got != 50 {
		t.Errorf("At(2, 0) = %v, want the median 50", got)
	}
	if m.Missing != 3 || m.FromReverse != 1 || m.FromMedian != 2 {
		t.Errorf("Missing, FromReverse, FromMedian = %d, %d, %d; want 3, 1, 2", m.Missing, m.FromReverse, m.FromMedian)
	}
}

func TestParseRTTRejectsBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"one host", "0\n"},
		{"short row", "0\t1\t2\n1\t0\n2\t1\t0\n"},
		{"too many rows", "0\t1\n1\t0\n1\t1\n"},
		{"too few rows", "0\t1\t2\n1\t0\t2\n"},
		{"not a number", "0\tabc\n1\t0\n"},
		{"too large", "0\t1e9\n1\t0\n"},
		{"infinite", "0\tInf\n1\t0\n"},
		{"nothing measured", "0\t-\n-\t0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRTT(strings.NewReader(tc.text))
			if !errors.Is(err, ErrRTTFormat) {
				t.Fatalf("ParseRTT(%q) error = %v, want ErrRTTFormat", tc.text, err)
			}
		})
	}
}

func TestLoadRTTPlanetLab(t *testing.T) {
	m, err := LoadRTT(planetLabPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hosts() != 490 {
		t.Errorf("Hosts() = %d, want 490", m.Hosts())
	}
	for i := range m.Hosts() {
		for j := range m.Hosts() {
			if i != j && !(m.At(i, j) > 0) {
				t.Fatalf("At(%d, %d) = %v, want a positive RTT", i, j, m.At(i, j))
			}
		}
	}
}

func FuzzParseRTT(f *testing.F) {
	f.Add("0\t10\n11\t0\n")
	f.Add("0\t\tNaN\n40\t0\t50\n-1\t60\t0\n")
	f.Add("0 1 2\n1 0 2\n2 1 0\n")
	f.Add("0\t1e9\n1\t0\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseRTT(strings.NewReader(text))
		if err != nil {
			return
		}
		if m.Hosts() < 2 || m.Hosts() > MaxHosts {
			t.Fatalf("accepted %d hosts", m.Hosts())
		}
		for i := range m.Hosts() {
			for j := range m.Hosts() {
				if v := m.At(i, j); i != j && !(v > 0 && v <= maxRTTMillis) {
					t.Fatalf("At(%d, %d) = %v after parsing %q", i, j, v, text)
				}
			}
		}
	})
}
