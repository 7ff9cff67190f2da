//go:build !race

package node

// raceEnabled is set when the race detector is on, which slows the BGV
// encryption of encrypted jobs about tenfold.
const raceEnabled = false
