//go:build race

package e2e

// With -race, the servers under test are built with the race detector too,
// and a race they report fails the test that ran them.
func init() { raceEnabled = true }
