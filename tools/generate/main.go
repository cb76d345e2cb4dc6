// Command generate writes jobq's man pages and shell completion scripts
// from its command tree: make generate runs it as
//
//	go run ./tools/generate -man docs/man -completions completions
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/jobq/jobq/cmd"
	"github.com/jobq/jobq/internal/gendoc"
)

func main() {
	man := flag.String("man", "", "write man pages into `DIR`")
	completions := flag.String("completions", "", "write completion scripts into `DIR`")
	flag.Parse()
	if *man == "" && *completions == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: generate [-man DIR] [-completions DIR]")
		os.Exit(2)
	}
	if err := gendoc.Generate(cmd.NewRootCmd(cmd.NewFactory()), *man, *completions); err != nil {
		fmt.Fprintf(os.Stderr, "generate: %v\n", err)
		os.Exit(1)
	}
}
