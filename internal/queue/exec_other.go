//go:build !linux

package queue

// awaitExit does nothing here: Wait waits for the process.
func awaitExit(int) {}
