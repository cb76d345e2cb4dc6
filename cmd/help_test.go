package cmd

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walkCommands calls fn for every command of jobq's tree, the root too.
func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

// SPEC: every command has --help with examples.
func TestEveryCommandHasExamples(t *testing.T) {
	t.Parallel()
	n := 0
	walkCommands(NewRootCmd(NewFactory()), func(c *cobra.Command) {
		n++
		if c.Example == "" {
			t.Errorf("jobq %s has no Example", commandName(c))
		}
		if c.Long == "" {
			t.Errorf("jobq %s has no description (Long)", commandName(c))
		}
		if c.HasParent() && c.Parent() == c.Root() && c.IsAvailableCommand() && c.GroupID == "" {
			t.Errorf("jobq %s is in no group of jobq --help", commandName(c))
		}
	})
	if n < 18 {
		t.Errorf("walked %d commands; the tree has more", n)
	}
}

// Every flag that takes a duration parses it one way (90s, 2d, 1w) and
// says so in help: "--backoff duration", never "--backoff string".
func TestDurationFlagsAreDurations(t *testing.T) {
	t.Parallel()
	durations := map[string]bool{"in": true, "timeout": true, "backoff": true, "max-backoff": true, "older-than": true, "grace": true}
	seen := map[string]bool{}
	walkCommands(NewRootCmd(NewFactory()), func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if !durations[fl.Name] {
				return
			}
			seen[fl.Name] = true
			if fl.Value.Type() != "duration" {
				t.Errorf("jobq %s --%s is a %s, not a duration", commandName(c), fl.Name, fl.Value.Type())
			}
			if name, _ := pflag.UnquoteUsage(fl); name != "duration" {
				t.Errorf("jobq %s --help shows --%s %s, not --%[2]s duration", commandName(c), fl.Name, name)
			}
		})
	})
	for name := range durations {
		if !seen[name] {
			t.Errorf("no command has --%s", name)
		}
	}
}
