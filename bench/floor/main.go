// Command floor does nothing but link the design's four packages
// (cobra, viper, mattn/go-sqlite3, tablewriter), so that their package
// inits and the Go runtime run as in every jobq process. BenchmarkEnqueue
// builds it as jobq was built and times it: the start-up no jobq can go
// below while it links them (issue 10).
package main

import (
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
)

func main() {}
