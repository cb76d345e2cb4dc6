// Positional arguments, checked the same way by every command: job IDs,
// and none where a command takes none. A bad one is a usage error.

package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// exactArgs and friends make cobra's argument checks usage errors.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d", cmd.Name(), n, len(args))
		}
		return nil
	}
}

// jobIDArg takes one job ID as the only argument, into dst.
func jobIDArg(dst *int64) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes 1 job ID, got %d argument(s)", cmd.Name(), len(args))
		}
		ids, err := queue.ParseIDs(args[0])
		if err != nil || len(ids) != 1 {
			return usageErrorf("invalid job ID %q", args[0])
		}
		*dst = ids[0]
		return nil
	}
}

// jobIDArgs takes one or more job IDs as arguments, into dst.
func jobIDArgs(dst *[]int64) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageErrorf("%s takes one or more job IDs", cmd.Name())
		}
		*dst = (*dst)[:0]
		for _, a := range args {
			ids, err := queue.ParseIDs(a)
			if err != nil || len(ids) != 1 {
				return usageErrorf("invalid job ID %q", a)
			}
			*dst = append(*dst, ids[0])
		}
		return nil
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
