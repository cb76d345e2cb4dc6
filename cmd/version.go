package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/mattn/go-sqlite3"
	"github.com/spf13/cobra"
)

// version is set at build time: -ldflags "-X github.com/jobq/jobq/cmd.version=v1.2.3".
var version = ""

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print jobq's version, with those of Go and SQLite",
		Long: `Print jobq's version, the Go release it was built with and the version of
the SQLite library compiled into it, on one line. Include it in a bug
report; scripts can check the SQLite version (jobq needs 3.35 or newer).`,
		Example: `  jobq version
  jobq version | grep -o 'SQLite [0-9.]*'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "" {
				v = bi.Main.Version
			}
			if v == "" || v == "(devel)" {
				v = "dev"
			}
			sqliteVersion, _, _ := sqlite3.Version()
			_, err := fmt.Fprintf(f.IO.Out, "jobq %s (%s, SQLite %s, %s/%s)\n", v, runtime.Version(), sqliteVersion, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
