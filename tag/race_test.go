//go:build race

package tag

// raceEnabled is set when the race detector is on. The package starts no
// goroutines, so the detector finds nothing in it and only slows the
// tests that locate thousands of fixes, by about ten times.
const raceEnabled = true
