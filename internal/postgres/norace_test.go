//go:build !race

package postgres

// raceSlowdown: see race_test.go.
const raceSlowdown = 1
