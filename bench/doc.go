// Package bench holds jobq's benchmark suite: it builds the jobq binary and
// measures it as users run it, as fresh processes, each number a ratio to a
// baseline taken in the same run (the sqlite3 command-line tool, xargs -P,
// task-spooler), because the machines it runs on are shared and noisy.
//
// Run it with `make bench`, which runs bench/install-deps.sh and then
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 -timeout 30m ./bench/
//
// Each benchmark ignores b.N and takes its own fixed number of samples,
// alternating jobq with its baseline and reporting medians, so -benchtime=1x
// is what it is meant for. docs/performance.md explains the targets and the
// latest results. The package has no code outside its tests.
package bench
