// Positional arguments, checked the same way by every command: job IDs,
// and none where a command takes none. A bad one is a usage error.

package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// noArgs refuses arguments, for the commands that take none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, not %q", commandName(cmd), args[0])
	}
	return nil
}

// oneArg takes exactly one argument, said to be what.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes one %s", commandName(cmd), what)
		}
		return nil
	}
}

// commandName is a command as users type it after jobq: "queue pause".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// parseJobID reads one job ID.
func parseJobID(s string) (int64, error) {
	ids, err := queue.ParseIDs(s)
	if err != nil || len(ids) != 1 {
		return 0, fmt.Errorf("invalid job ID %q", s)
	}
	return ids[0], nil
}

// jobIDArg takes one job ID as the only argument, into dst.
func jobIDArg(dst *int64) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes one job ID", commandName(cmd))
		}
		id, err := parseJobID(args[0])
		if err != nil {
			return &UsageError{Err: err}
		}
		*dst = id
		return nil
	}
}

// jobIDArgs takes one or more job IDs as arguments, into dst.
func jobIDArgs(dst *[]int64) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageErrorf("%s takes one or more job IDs", commandName(cmd))
		}
		*dst = (*dst)[:0]
		for _, a := range args {
			id, err := parseJobID(a)
			if err != nil {
				return &UsageError{Err: err}
			}
			*dst = append(*dst, id)
		}
		return nil
	}
}

// optionalJobIDArgs takes job IDs, or none (the command picks jobs another
// way: retry's filters, wait's -q), into dst.
func optionalJobIDArgs(dst *[]int64) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			*dst = nil
			return nil
		}
		return jobIDArgs(dst)(cmd, args)
	}
}

// joinIDs writes job IDs for a message: "3, 4".
func joinIDs(ids []int64) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(id)
	}
	return s
}
