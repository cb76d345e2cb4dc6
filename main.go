// Command jobq operates job queues kept in one SQLite file.
package main

import (
	"os"

	"github.com/jobq/jobq/cmd"
)

func main() { os.Exit(cmd.Main()) }
