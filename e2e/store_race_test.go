//go:build race

package e2e

// raceEnabled reports whether the test binary runs under the race
// detector, which slows the test's own goroutines, not the yui processes.
const raceEnabled = true
