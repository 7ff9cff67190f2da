package search

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExactSumIgnoresOrder sums the same values in many orders, where a
// float64 running sum differs in its last bits, and gets one result.
func TestExactSumIgnoresOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := make([]float64, 2000)
	for i := range values {
		values[i] = math.Round(rng.Float64()*5000) / 100 // two decimals, as sensors report
	}
	var first exactSum
	for _, v := range values {
		first.Add(v)
	}
	want := first.Float64()

	naive := map[float64]bool{}
	for range 20 {
		rng.Shuffle(len(values), func(i, j int) { values[i], values[j] = values[j], values[i] })
		var s exactSum
		plain := 0.0
		for _, v := range values {
			s.Add(v)
			plain += v
		}
		naive[plain] = true
		if got := s.Float64(); got != want {
			t.Fatalf("exact sum %v in one order, %v in another", want, got)
		}
	}
	if len(naive) < 2 {
		t.Log("the float64 running sums happened to agree in every order")
	}
}

func TestExactSumValues(t *testing.T) {
	cases := []struct {
		values []float64
		want   float64
	}{
		{nil, 0},
		{[]float64{1, 2, 3.5}, 6.5},
		{[]float64{-20.25, 20.25}, 0},
		{[]float64{1e308, 1e308, -1e308}, 1e308},   // a float64 running sum overflows
		{[]float64{1, 1e-30, -1}, 1e-30},           // and loses the small term
		{[]float64{5e-324, 5e-324}, 1e-323},        // subnormals
		{[]float64{0.1, 0.2}, 0.30000000000000004}, // rounding once, at the end
	}
	for _, c := range cases {
		var s exactSum
		for _, v := range c.values {
			s.Add(v)
		}
		if got := s.Float64(); got != c.want {
			t.Errorf("sum of %v = %v, want %v", c.values, got, c.want)
		}
	}
}
