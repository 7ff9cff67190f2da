//go:build !race

package tag

// raceEnabled is set when the race detector is on.
const raceEnabled = false
