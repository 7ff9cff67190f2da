package jobsim

import (
	"errors"
	"testing"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// middleOnly makes every worker a middle-tier one, so that run times do
// not depend on the tier mix.
var middleOnly = [3]float64{0, 1, 0}

func TestRunCommitsEveryUnitOnce(t *testing.T) {
	res, err := Run(Config{Workers: 10, Units: 500, TierMix: middleOnly, Seed: 1})
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

func TestRunAddedWorkersFinishSooner(t *testing.T) {
	cfg := Config{Workers: 50, Units: 5000, AddAt: 30 * time.Second, Seed: 6}
	base, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Add = 50
	grown, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if grown.Joined != 50 {
		t.Fatalf("%d workers joined, want 50", grown.Joined)
	}
	if grown.Completion >= base.Completion {
		t.Errorf("with 50 workers added the job took %v, without %v; want it sooner", grown.Completion, base.Completion)
	}
}

func TestRunDeterministic(t *testing.T) {
	cfg := Config{Workers: 15, Units: 300, ChurnPerMinute: 30, Verify: 2, Placement: PlaceInCluster,
		NodesPerCluster: 5, Seed: 4}
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

func TestRunCountsEveryByte(t *testing.T) {
	res, err := Run(Config{Workers: 40, Units: 400, Verify: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(400 * 2 * unitReadings * bytesPerReading)
	if got := res.Locality.Total(); got != want {
		t.Errorf("locality counts %d bytes, want %d: two agreeing runs of 400 units", got, want)
	}
	if res.Locality.Unknown != 0 {
		t.Errorf("%d bytes of unknown place, want none: every worker and unit has a cluster", res.Locality.Unknown)
	}
}

func TestRunClusterPlacementKeepsBytesInside(t *testing.T) {
	cfg := Config{Workers: 200, Units: 4000, NodesPerCluster: 20, Seed: 8}
	anywhere, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Placement = PlaceInCluster
	inCluster, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// With replicas anywhere, a worker reads the units it holds first,
	// and those are mostly of other clusters.
	if a, c := anywhere.Locality.Share(), inCluster.Locality.Share(); c <= a || c < 0.8 {
		t.Errorf("in-cluster share %.3f with replicas anywhere, %.3f with replicas in the cluster; want the latter higher and at least 0.8", a, c)
	}
}

func TestRunLowerTierIdleBesideCapable(t *testing.T) {
	res, err := Run(Config{Workers: 20, Units: 400, TierMix: [3]float64{0, 0.5, 0.5}, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tiers[sched.TierLower] == 0 || res.Tiers[sched.TierMiddle] == 0 {
		t.Fatalf("tiers %v, want middle and lower workers", res.Tiers)
	}
	// A lower-tier worker that joins before any middle-tier one is alone
	// and takes a unit, but none after that: half the workers are lower
	// tier, yet they run under 2 % of the units.
	if n := res.RunsByTier[sched.TierLower]; n*50 >= res.Runs {
		t.Errorf("lower-tier workers ran %d of %d units beside middle-tier ones, want under 2 %%", n, res.Runs)
	}
	if res.TierChanges != 0 {
		t.Errorf("%d tier changes, want none: run times vary within the hysteresis margin", res.TierChanges)
	}
}

func TestRunWeakWorkersAloneFinish(t *testing.T) {
	res, err := Run(Config{Workers: 5, Units: 50, TierMix: [3]float64{0, 0, 1}, Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed != 50 || res.RunsByTier[sched.TierLower] < 50 {
		t.Fatalf("result %+v, want every unit run on the lower-tier workers", res)
	}
}

func TestRunRejectsConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no workers": {Units: 1},
		"churn":      {Workers: 1, Units: 1, ChurnPerMinute: -1},
		"tier mix":   {Workers: 1, Units: 1, TierMix: [3]float64{2, 0, 0}},
		"placement":  {Workers: 1, Units: 1, Placement: "moon"},
	} {
		if _, err := Run(cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

// TestRunHundredThousandWorkers checks that the scheduler's indexes let
// a job of 100,000 units run on 100,000 workers. It took 8 to 46 s on
// the shared 2-core machine, depending on its load.
func TestRunHundredThousandWorkers(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100,000 workers take 8 s or more, and far longer under the race detector")
	}
	res, err := Run(Config{Workers: 100_000, Units: 100_000, Placement: PlaceInCluster, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if res.Committed != 100_000 {
		t.Fatalf("result %+v, want 100,000 units committed", res)
	}
}

func TestRunAddsWorkersHalfway(t *testing.T) {
	res, err := Run(Config{Workers: 20, Units: 1000, Add: 20, AddWhenDone: 0.5, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	if res.Joined != 20 || res.Committed != 1000 {
		t.Fatalf("result %+v, want 20 workers joined and 1000 units committed", res)
	}
}
