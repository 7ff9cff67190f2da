package town

import (
	"errors"
	"math"
	"testing"
)

// TestGeneratorReproducesFit checks the generated link statistics
// against the measured ones they are fitted to.
func TestGeneratorReproducesFit(t *testing.T) {
	fit := mustFit(t, n1(t))
	var wantDelivery float64
	for _, lqi := range fit.LQIs {
		wantDelivery += fit.Delivery(lqi) / float64(len(fit.LQIs))
	}
	for _, degree := range []float64{0, 6} {
		for seed := uint64(1); seed <= 2; seed++ {
			opts := GenerateOptions{Relays: 500, AreaKm2: 4, Degree: degree, Seed: seed}
			g, err := Generate(fit, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts = opts.withDefaults(fit)
			s := g.Stats()
			if math.Abs(s.MeanDegree-opts.Degree) > 0.02*opts.Degree {
				t.Errorf("degree %g seed %d: mean degree %.2f", opts.Degree, seed, s.MeanDegree)
			}
			if math.Abs(s.MeanLQI-fit.MeanLQI) > 1.5 {
				t.Errorf("degree %g seed %d: mean LQI %.2f, measured %.2f", opts.Degree, seed, s.MeanLQI, fit.MeanLQI)
			}
			strong := strongDelivery(g, opts.SensitivityDBm+opts.TransitionDB+4*fit.SDDirection)
			if math.Abs(strong-wantDelivery) > 0.01 {
				t.Errorf("degree %g seed %d: mean delivery of strong links %.3f, fitted %.3f", opts.Degree, seed, strong, wantDelivery)
			}
			if !symmetric(g) {
				t.Errorf("degree %g seed %d: a link has no reverse", opts.Degree, seed)
			}
		}
	}
}

// strongDelivery returns the mean delivery of the links received at
// least at rssi dBm, whose margin puts them beyond the transition.
func strongDelivery(g *Graph, rssi float64) float64 {
	var m moments
	for _, links := range g.Links {
		for _, l := range links {
			if l.RSSI >= rssi {
				m.add(l.Delivery)
			}
		}
	}
	return m.mean()
}

func symmetric(g *Graph) bool {
	has := map[[2]int32]bool{}
	for u, links := range g.Links {
		for _, l := range links {
			has[[2]int32{int32(u), l.Receiver}] = true
		}
	}
	for key := range has {
		if !has[[2]int32{key[1], key[0]}] {
			return false
		}
	}
	return true
}

func TestGenerateDeterministic(t *testing.T) {
	fit := mustFit(t, n1(t))
	opts := GenerateOptions{Relays: 200, AreaKm2: 1, Seed: 9}
	a, err := Generate(fit, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(fit, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stats() != b.Stats() || a.Nodes[17] != b.Nodes[17] || len(a.Links[17]) != len(b.Links[17]) {
		t.Error("two towns generated with seed 9 differ")
	}
}

func TestGenerateRejectsOptions(t *testing.T) {
	fit := mustFit(t, n1(t))
	for name, opts := range map[string]GenerateOptions{
		"one relay":     {Relays: 1, AreaKm2: 1},
		"no area":       {Relays: 100},
		"degree > size": {Relays: 10, AreaKm2: 1, Degree: 10},
		"exponent 0.5":  {Relays: 100, AreaKm2: 1, PathLossExponent: 0.5},
	} {
		if _, err := Generate(fit, opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Generate = %v, want ErrInvalidOptions", name, err)
		}
	}
}
