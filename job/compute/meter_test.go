package compute

import (
	"testing"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// observeRate feeds one second of work at the given speed.
func observeRate(m *Meter, readingsPerSecond int) {
	m.Observe(readingsPerSecond, time.Second)
}

func newMeter(t *testing.T) *Meter {
	t.Helper()
	m, err := NewMeter(Config{Weight: 1}) // no smoothing: each sample sets the speed
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMeterFirstSamplePlacesTier(t *testing.T) {
	cases := []struct {
		rate int
		want sched.Tier
	}{
		{150_000, sched.TierUpper},
		{100_000, sched.TierUpper},
		{99_999, sched.TierMiddle},
		{20_000, sched.TierMiddle},
		{19_999, sched.TierLower},
	}
	for _, tc := range cases {
		m := newMeter(t)
		observeRate(m, tc.rate)
		if got := m.Tier(); got != tc.want {
			t.Errorf("first sample of %d readings/s: tier %s, want %s", tc.rate, TierName(got), TierName(tc.want))
		}
	}
}

func TestMeterHysteresis(t *testing.T) {
	m := newMeter(t)
	steps := []struct {
		rate int
		want sched.Tier
	}{
		{110_000, sched.TierUpper},
		{85_000, sched.TierUpper},   // below 100,000 but within the 20 % margin
		{79_000, sched.TierMiddle},  // below 80,000
		{115_000, sched.TierMiddle}, // above 100,000 but not by 20 %
		{120_000, sched.TierUpper},
		{15_000, sched.TierLower}, // below 16,000: from upper straight to lower
		{23_000, sched.TierLower}, // above 20,000 but not by 20 %
		{24_000, sched.TierMiddle},
		{16_500, sched.TierMiddle}, // below 20,000 but within the margin
		{15_000, sched.TierLower},
	}
	for i, s := range steps {
		observeRate(m, s.rate)
		if got := m.Tier(); got != s.want {
			t.Fatalf("step %d, %d readings/s: tier %s, want %s", i, s.rate, TierName(got), TierName(s.want))
		}
	}
}

func TestMeterSmoothsOutlier(t *testing.T) {
	m, err := NewMeter(Config{})
	if err != nil {
		t.Fatal(err)
	}
	observeRate(m, 200_000)
	observeRate(m, 10_000) // one slow unit, such as one that waited for a lock
	if got := m.Rate(); got != 162_000 {
		t.Errorf("rate %v after 200,000 then 10,000 with weight 0.2, want 162,000", got)
	}
	if m.Tier() != sched.TierUpper {
		t.Errorf("tier %s after one slow sample, want upper", TierName(m.Tier()))
	}
}

func TestMeterSumsShortRuns(t *testing.T) {
	m := newMeter(t)
	for range 4 {
		m.Observe(10, time.Millisecond)
	}
	if m.Rate() != 0 {
		t.Fatalf("rate %v after 4 ms of runs, want no sample before 5 ms", m.Rate())
	}
	m.Observe(10, time.Millisecond)
	if m.Rate() != 10_000 {
		t.Fatalf("rate %v after 50 readings in 5 ms, want 10,000", m.Rate())
	}
	m.Observe(0, time.Second)
	m.Observe(10, 0)
	m.Observe(-3, time.Second)
	if m.Rate() != 10_000 {
		t.Fatalf("rate %v after empty runs, want them ignored", m.Rate())
	}
}

func TestMeterStartsMiddle(t *testing.T) {
	m := newMeter(t)
	if m.Tier() != sched.TierMiddle || m.Rate() != 0 {
		t.Fatalf("new meter: tier %s, rate %v; want middle and 0", TierName(m.Tier()), m.Rate())
	}
}

func TestNewMeterRejectsThresholds(t *testing.T) {
	if _, err := NewMeter(Config{Upper: 10, Lower: 10}); err == nil {
		t.Fatal("a lower threshold equal to the upper was accepted")
	}
}

func TestCalibrateFeedsMeter(t *testing.T) {
	m := newMeter(t)
	m.Observe(CalibrationReadings, Calibrate(CalibrationReadings))
	if m.Rate() <= 0 {
		t.Fatalf("rate %v after calibration, want above 0", m.Rate())
	}
}
