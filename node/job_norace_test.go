//go:build !race

package node

// raceDetector is set when the tests run under the race detector, which
// makes the heavier job tests use a slice of their data.
const raceDetector = false
