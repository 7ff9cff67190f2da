package jobsim

import (
	"testing"
	"time"
)

func TestRunCommitsEveryUnitOnce(t *testing.T) {
	res, err := Run(Config{Workers: 10, Units: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed != 500 || res.Failed != 0 {
		t.Fatalf("result %+v, want 500 units committed once", res)
	}
	// 500 units of about 1 s on 10 workers take about 50 s.
	if res.Completion < 40*time.Second || res.Completion > 70*time.Second {
		t.Errorf("completion %v, want about 50 s", res.Completion)
	}
}

func TestRunMoreWorkersFinishSooner(t *testing.T) {
	small, err := Run(Config{Workers: 10, Units: 1000, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	large, err := Run(Config{Workers: 100, Units: 1000, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if large.Completion*5 > small.Completion {
		t.Errorf("100 workers took %v, 10 took %v; want at least 5 times faster", large.Completion, small.Completion)
	}
}

func TestRunUnderChurnAndJoins(t *testing.T) {
	res, err := Run(Config{Workers: 20, Units: 2000, ChurnPerMinute: 10, Add: 20, AddAt: time.Minute, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed != 2000 || res.Failed != 0 {
		t.Fatalf("result %+v, want 2000 units committed once", res)
	}
	if res.Left == 0 || res.Joined < 20 || res.Wasted == 0 {
		t.Errorf("result %+v, want workers left and joined and some runs wasted", res)
	}
}

func TestRunDeterministic(t *testing.T) {
	cfg := Config{Workers: 15, Units: 300, ChurnPerMinute: 30, Verify: 2, Seed: 4}
	a, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two runs of one seed differ: %+v and %+v", a, b)
	}
}

func TestRunHeavyChurnSmallPool(t *testing.T) {
	// A worker leaves every second on average and is replaced, so most
	// runs are lost, yet every unit still commits.
	res, err := Run(Config{Workers: 2, Units: 20, ChurnPerMinute: 60, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed != 20 {
		t.Fatalf("result %+v, want 20 units committed", res)
	}
}
