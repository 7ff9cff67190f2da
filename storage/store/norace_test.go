//go:build !race

package store

// raceEnabled is set when the race detector is on, which slows tests that
// move gigabytes by an order of magnitude.
const raceEnabled = false
