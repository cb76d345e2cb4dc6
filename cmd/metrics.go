package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/metrics"
)

// MetricsOptions are metrics' dependencies and flags.
type MetricsOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	Output string
}

func newMetricsCmd(f *Factory) *cobra.Command {
	opts := &MetricsOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "metrics [--output FILE]",
		Short: "Print the queue's Prometheus metrics (for node_exporter's textfile collector)",
		Long: `Print the whole database's metrics in Prometheus's text format: jobs by
queue and state, the oldest ready job's age, jobs ended by queue and final
state (a counter that deleting jobs does not lower), pauses and limits,
schedules' last success and failures in a row, the database's size. The
numbers are those of 'jobq stats'. It changes nothing in the queue.

--output FILE writes them to FILE instead, atomically (a temporary file in
FILE's directory, renamed over it, mode 0644), for node_exporter's
textfile collector, which reads only files named *.prom: run it from cron
or a systemd timer. 'jobq work --metrics-addr' serves the same families,
and the worker's own, over HTTP. See docs/monitoring.md.`,
		Example: `  jobq metrics
  jobq metrics | grep '^jobq_queue_oldest_ready_age_seconds'
  jobq metrics --output /var/lib/prometheus/node-exporter/jobq.prom`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMetrics(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to `FILE` atomically, not to stdout (textfile collector: name it *.prom)")
	return cmd
}

func runMetrics(ctx context.Context, opts *MetricsOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewStoreCollector(store, opts.Now))
	if opts.Output != "" {
		if !strings.HasSuffix(opts.Output, ".prom") {
			fmt.Fprintf(opts.IO.ErrOut, "jobq: warning: %s does not end in .prom: node_exporter's textfile collector will not read it\n", opts.Output)
		}
		if err := prometheus.WriteToTextfile(opts.Output, reg); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(opts.IO.Out, mf); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
