//go:build race

package search

// raceEnabled is set when the race detector is on, which slows the
// cluster tests about tenfold.
const raceEnabled = true
