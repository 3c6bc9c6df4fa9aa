//go:build !race

package proxy

// raceEnabled: the race detector is on (tests size their loads by it).
const raceEnabled = false
