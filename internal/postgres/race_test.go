//go:build race

package postgres

// raceSlowdown is how many times slower the race detector makes the
// client's work between two statements (a chunk's: about 9x measured),
// for the tests that set the server's idle timeout short.
const raceSlowdown = 8
