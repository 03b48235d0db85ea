//go:build race

package server

// raceEnabled: the race detector is on, and with it sync.Pool drops a
// share of what is put back, so allocation counts vary from run to run.
const raceEnabled = true
