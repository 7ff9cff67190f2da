//go:build race

package message

// raceEnabled is set when the race detector is on, which slows the
// signing and encryption in property tests about five times.
const raceEnabled = true
