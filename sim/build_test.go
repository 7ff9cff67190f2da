package sim

import (
	"testing"
	"time"
)

// TestDecideEarlyKeepsVerdicts builds one network twice, once waiting for
// every lookup of a check and once deciding checks early. Both runs must
// find the network converged at the same check, and every check decided
// early must have the verdict it gets once all its lookups have ended.
func TestDecideEarlyKeepsVerdicts(t *testing.T) {
	for _, mode := range []Mode{Flat, Hier} {
		run := func(early bool) BuildResult {
			n := newTestNetwork(t, Config{Seed: 5, Mode: mode})
			res, err := Build(n, BuildOptions{Nodes: 300, Probes: 200, Timeout: 5 * time.Second, DecideEarly: early})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		full, early := run(false), run(true)
		if !full.Converged || !early.Converged {
			t.Fatalf("%v: converged %v waiting for all lookups and %v deciding early", mode, full.Converged, early.Converged)
		}
		if full.ConvergedAt != early.ConvergedAt {
			t.Errorf("%v: converged at %v waiting for all lookups, at %v deciding early", mode, full.ConvergedAt, early.ConvergedAt)
		}
		if early.End > full.End {
			t.Errorf("%v: the early run ended at %v, after the full one at %v", mode, early.End, full.End)
		}
		passed := func(c Check) bool { return c.Success() >= 0.99 }
		for _, e := range early.Checks {
			for _, f := range full.Checks {
				if f.At == e.At && passed(f) != passed(e) {
					t.Errorf("%v: check at %v passed %v with %d of %d lookups ended, %v with all",
						mode, e.At, passed(e), e.Ended, e.Lookups, passed(f))
				}
			}
			if e.Ended == e.Lookups {
				continue
			}
			running := e.Lookups - e.Ended
			if !passed(e) && float64(e.Correct+running) >= 0.99*float64(e.Lookups-e.TargetLeft) {
				t.Errorf("%v: check at %v failed with %d running lookups that could still have made it pass", mode, e.At, running)
			}
		}
		t.Logf("%v: converged at %v; the run ended at %v waiting for all lookups, at %v deciding early",
			mode, full.ConvergedAt, full.End, early.End)
	}
}

func TestJudgeCheck(t *testing.T) {
	opts := BuildOptions{Target: 0.99, DecideEarly: true}
	wait := BuildOptions{Target: 0.99}
	for _, c := range []struct {
		s           ProbeSummary
		ended       int
		early, full checkVerdict
	}{
		{ProbeSummary{Lookups: 1000, Done: 990, Correct: 990}, 990, checkPassed, checkOpen},
		{ProbeSummary{Lookups: 1000, Done: 989, Correct: 989}, 989, checkOpen, checkOpen},
		{ProbeSummary{Lookups: 1000, Done: 11, Correct: 0}, 11, checkFailed, checkOpen},
		{ProbeSummary{Lookups: 1000, Done: 10, Correct: 0}, 10, checkOpen, checkOpen},
		// A target that left takes its lookup out of the count.
		{ProbeSummary{Lookups: 1000, Done: 990, Correct: 981, TargetLeft: 10}, 990, checkPassed, checkOpen},
		{ProbeSummary{Lookups: 1000, Done: 990, Correct: 980, TargetLeft: 10}, 990, checkOpen, checkOpen},
		{ProbeSummary{Lookups: 1000, Done: 1000, Correct: 989}, 1000, checkFailed, checkFailed},
		{ProbeSummary{Lookups: 1000, Done: 1000, Correct: 990}, 1000, checkPassed, checkPassed},
	} {
		if got := judgeCheck(c.s, c.ended, opts); got != c.early {
			t.Errorf("%+v deciding early: verdict %d, want %d", c.s, got, c.early)
		}
		if got := judgeCheck(c.s, c.ended, wait); got != c.full {
			t.Errorf("%+v waiting: verdict %d, want %d", c.s, got, c.full)
		}
	}
}
