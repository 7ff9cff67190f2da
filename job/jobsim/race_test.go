//go:build race

package jobsim

const raceEnabled = true
