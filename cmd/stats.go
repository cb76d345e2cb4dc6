package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// StatsOptions are stats' dependencies and flags.
type StatsOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	JSON bool
}

// recentWindow is how far back stats counts the jobs that ended.
const recentWindow = time.Hour

func newStatsCmd(f *Factory) *cobra.Command {
	opts := &StatsOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "stats [--json]",
		Short: "Per queue: jobs by state, the oldest ready job, the last hour, pauses and limits",
		Long: `Sum up every queue that has jobs or settings: how many jobs are in each
state, how long the oldest ready job has waited (a backlog grows it), how
many jobs succeeded and went dead in the last hour, and whether the queue
is paused or limited ('jobq queue').

It reads counters kept with every change, so it costs the same with a
million jobs as with ten. --json prints one object per queue, with a count
for every state name.`,
		Example: `  jobq stats
  watch -n 5 jobq stats
  jobq stats --json | jq '.[] | select(.dead_last_hour > 0) | .queue'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array, one object per queue")
	return cmd
}

func runStats(ctx context.Context, opts *StatsOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	now := opts.Now()
	stats, err := store.QueueStats(ctx, queue.QueueStatsParams{Now: now, RecentSince: now.Add(-recentWindow)})
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if opts.JSON {
		out := make([]map[string]any, len(stats))
		for i, q := range stats {
			out[i] = statsJSON(q, now)
		}
		return writeJSON(opts.IO.Out, out)
	}
	header := []string{"QUEUE"}
	for _, st := range queue.States {
		header = append(header, strings.ToUpper(string(st)))
	}
	header = append(header, "OLDEST READY", "SUCCEEDED 1H", "DEAD 1H", "STATUS")
	rows := make([][]string, len(stats))
	for i, q := range stats {
		row := []string{q.Name}
		for _, st := range queue.States {
			row = append(row, strconv.Itoa(q.Counts[st]))
		}
		oldest := "-"
		if !q.OldestReady.IsZero() {
			oldest = roughDuration(now.Sub(q.OldestReady))
		}
		rows[i] = append(row, oldest, strconv.Itoa(q.RecentSucceeded), strconv.Itoa(q.RecentDead), queueStatus(q.QueueSettings))
	}
	return writeTable(opts.IO.Out, header, rows)
}

// statsJSON is one queue as stats --json prints it: a count under every
// state's name, null where a limit or a ready job is absent.
func statsJSON(q queue.QueueStats, now time.Time) map[string]any {
	out := map[string]any{
		"queue":               q.Name,
		"paused":              q.Paused,
		"concurrency":         nil,
		"rate":                nil,
		"oldest_ready_at":     optTime(q.OldestReady),
		"oldest_ready_age_s":  nil,
		"succeeded_last_hour": q.RecentSucceeded,
		"dead_last_hour":      q.RecentDead,
	}
	for _, st := range queue.States {
		out[string(st)] = q.Counts[st]
	}
	if q.Concurrency > 0 {
		out["concurrency"] = q.Concurrency
	}
	if q.Rate > 0 {
		out["rate"] = formatRate(q.Rate, q.RatePeriod)
	}
	if !q.OldestReady.IsZero() {
		out["oldest_ready_age_s"] = now.Sub(q.OldestReady).Seconds()
	}
	return out
}

// formatRate writes a rate limit as jobq queue limit --rate takes it.
func formatRate(n int, period time.Duration) string {
	return strconv.Itoa(n) + "/" + formatDuration(period)
}

// queueStatus says whether a queue is paused and how it is limited:
// "active", "paused", "active, 2 at once, 10/1m".
func queueStatus(q queue.QueueSettings) string {
	parts := []string{"active"}
	if q.Paused {
		parts[0] = "paused"
	}
	if q.Concurrency > 0 {
		parts = append(parts, strconv.Itoa(q.Concurrency)+" at once")
	}
	if q.Rate > 0 {
		parts = append(parts, formatRate(q.Rate, q.RatePeriod))
	}
	return strings.Join(parts, ", ")
}
