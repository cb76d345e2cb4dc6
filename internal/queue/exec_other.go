//go:build !linux || mips || mipsle || mips64 || mips64le

package queue

// awaitExit does nothing here: Wait waits for the process.
func awaitExit(int) {}
