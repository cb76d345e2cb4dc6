// Package faulttest holds jobq's fault tests: they build the jobq binary,
// run workers as real processes on one SQLite file, and kill, stop and
// signal them and their jobs, to check that no job is lost, run twice
// unseen, or left running. They are part of make test; go test -short
// skips them.
//
// The package has no code outside its tests.
package faulttest
