//go:build race

package hierarchy_test

// raceEnabled is set when the race detector runs, which slows the
// simulation about tenfold.
const raceEnabled = true
