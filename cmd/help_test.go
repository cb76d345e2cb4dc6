package cmd

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jobq/jobq/internal/config"
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

// A command that takes enqueue's flags for a job's defaults (enqueue, and
// any that enqueues jobs later, like schedule add) binds each to its
// config key: unbound, its value would be ignored, as commands read these
// settings from the config alone.
func TestJobDefaultFlagsAreBound(t *testing.T) {
	t.Parallel()
	keys := map[string]string{
		"max-attempts": "defaults.max_attempts", "backoff": "defaults.backoff",
		"max-backoff": "defaults.max_backoff", "permanent-exit": "defaults.permanent_exit",
	}
	seen := 0
	walkCommands(NewRootCmd(NewFactory()), func(c *cobra.Command) {
		max := c.LocalFlags().Lookup("max-attempts")
		if max == nil {
			return
		}
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			key, ok := keys[fl.Name]
			if fl.Name == "timeout" {
				key, ok = "defaults.timeout", true // a job's timeout, where jobs are made
			}
			if !ok {
				return
			}
			seen++
			if got := config.BoundKey(fl); got != key {
				t.Errorf("jobq %s --%s is bound to %q, want %q", commandName(c), fl.Name, got, key)
			}
		})
	})
	if seen < 5 {
		t.Errorf("checked %d flags; enqueue has 5", seen)
	}
}

// Every flag that takes a duration parses it one way (90s, 2d, 1w) and
// says so in help: "--backoff duration", never "--backoff string".
func TestDurationFlagsAreDurations(t *testing.T) {
	t.Parallel()
	durations := map[string]bool{"in": true, "timeout": true, "backoff": true, "max-backoff": true, "older-than": true, "grace": true, "jitter": true}
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
