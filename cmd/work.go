package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/metrics"
	"github.com/jobq/jobq/internal/queue"
)

// WorkOptions are work's dependencies and flags.
type WorkOptions struct {
	RunnerOptions
	Grace       durationFlag
	MetricsAddr string
}

func newWorkCmd(f *Factory) *cobra.Command {
	opts := &WorkOptions{RunnerOptions: newRunnerOptions(f)}
	cmd := &cobra.Command{
		Use:   "work [-q Q] [-c N]",
		Short: "Run jobs as they come: the long-running worker (a systemd service)",
		Long: `Run jobs as they become ready, N at a time, until stopped. Several workers,
on this host, may share one database: each job runs on one of them.

It notices a new job within about 10 ms without busy polling (inotify
says when the database is written; where inotify is not to be had, it
looks every 25 ms), runs scheduled jobs and retries when they come due,
fires the ticks of schedules ('jobq schedule': each tick once, however
many workers run), takes back the jobs of a
worker whose lease expired (a failed attempt), and deletes final jobs past
their retention (config retention.*).

On SIGTERM or SIGINT it claims nothing more, waits up to --grace for its
running jobs, then stops them and hands them back as pending without using
an attempt, and exits 0. A second signal skips the wait. Under systemd
(NOTIFY_SOCKET set) it reports READY=1, STATUS=, WATCHDOG=1 and STOPPING=1:
see docs/running.md and docs/systemd/.

--metrics-addr HOST:PORT serves Prometheus metrics on /metrics (those of
'jobq metrics', and the worker's own) and /healthz (200 "ok" while the
worker's loop turns and the database answers, 503 and the reason
otherwise). A bare :PORT listens on 127.0.0.1 only; say 0.0.0.0:PORT to be
reached from other hosts. See docs/monitoring.md.`,
		Example: `  jobq work
  jobq work -q mail,reports -c 4 --log-format json
  jobq work --metrics-addr :9811
  systemctl enable --now jobq-worker`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWork(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().Var(&opts.Grace, "grace", "on SIGTERM, how long running jobs may finish (default: config work.grace, 25s)")
	config.BindFlag(cmd.Flags().Lookup("grace"), "work.grace")
	cmd.Flags().StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve /metrics and /healthz on `HOST:PORT` (:PORT: 127.0.0.1 only)")
	return cmd
}

func runWork(ctx context.Context, opts *WorkOptions) error {
	// A second signal cuts the grace short. Registered before anything
	// else, so that no signal is missed; the first one also cancels ctx.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	var metricsAddr string
	if opts.MetricsAddr != "" {
		addr, err := metrics.ParseAddr(opts.MetricsAddr)
		if err != nil {
			return &UsageError{Err: err}
		}
		metricsAddr = addr
	}
	r, cfg, err := opts.setUp(ctx)
	if err != nil {
		return err
	}
	defer r.Store.Close()
	var watched *metrics.Worker
	if metricsAddr != "" {
		var stop func()
		if watched, stop, err = serveMetrics(metricsAddr, r, cfg.BusyTimeout); err != nil {
			return err
		}
		defer stop()
		watched.StopWith(ctx)
	}
	r.Grace = cfg.Work.Grace
	r.Retention = queue.Retention{Succeeded: cfg.Retention.Succeeded, Dead: cfg.Retention.Dead}

	hurry := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			if _, ok := <-signals; !ok {
				return
			}
			if n == 1 {
				r.Log.Warn("second signal: stopping running jobs now")
				close(hurry)
				return
			}
		}
	}()
	r.Hurry = hurry

	n := newNotifier(r.Log)
	r.Tick = n.tick
	r.OnLoop = n.loop
	if watched != nil {
		r.Observer = watched
		r.OnLoop = func(s queue.Snapshot) { n.loop(s); watched.Loop(s) }
	}
	r.Log.Info("worker started", "worker", r.Worker, "concurrency", r.Concurrency, "queues", logQueues(r.Queues))
	n.send("READY=1")
	sum, err := r.Work(ctx)
	if !n.stopping {
		n.send("STOPPING=1")
	}
	if err != nil {
		return fmt.Errorf("work: %w", err)
	}
	r.Log.Info("worker stopped", "succeeded", sum.Succeeded, "retrying", sum.Retrying, "dead", sum.Dead, "handed_back", sum.HandedBack)
	return nil
}

// serveMetrics serves the store's metrics, the worker's own (which it
// returns, for the runner to feed) and /healthz on addr until stop is
// called. The listener is opened here, so that a port in use fails the
// worker before it claims anything.
func serveMetrics(addr string, r *queue.Runner, busyTimeout time.Duration) (w *metrics.Worker, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	w = metrics.NewWorker()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewStoreCollector(r.Store, r.Now))
	reg.MustRegister(w.Collectors()...)
	health := &metrics.Health{Worker: w, Store: r.Store, StaleAfter: r.Lease + busyTimeout, Timeout: 5 * time.Second}
	reg.MustRegister(health.Collector())
	srv := metrics.NewServer(reg, health, r.Log)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.Log.Warn("metrics", "error", err)
		}
	}()
	r.Log.Info("serving metrics", "addr", ln.Addr().String())
	return w, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// notifier speaks sd_notify to systemd when NOTIFY_SOCKET is set, and does
// nothing otherwise.
type notifier struct {
	log      interface{ Warn(string, ...any) }
	watchdog time.Duration // 0: no watchdog
	tick     time.Duration // how often the loop must turn for the watchdog
	lastPing time.Time
	status   string
	stopping bool
}

func newNotifier(log interface{ Warn(string, ...any) }) *notifier {
	n := &notifier{log: log}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		n.watchdog, n.tick = d, d/2
	}
	return n
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "error", err)
	}
}

// loop runs at every turn of the worker's loop: from there, a watchdog ping
// says the loop itself still turns.
func (n *notifier) loop(s queue.Snapshot) {
	if n.watchdog > 0 && time.Since(n.lastPing) >= n.tick {
		n.send("WATCHDOG=1")
		n.lastPing = time.Now()
	}
	if s.Stopping && !n.stopping {
		n.stopping = true
		n.send("STOPPING=1")
	}
	status := fmt.Sprintf("STATUS=%d running; %d succeeded, %d retrying, %d dead since start",
		s.Running, s.Succeeded, s.Retrying, s.Dead)
	if s.Stopping {
		status = fmt.Sprintf("STATUS=stopping: waiting for %s", plural(s.Running, "running job"))
	}
	if status != n.status {
		n.status = status
		n.send(status)
	}
}

// logQueues is the worker's queues for its log: a list, also when empty
// (every queue), so that the JSON log has an array, never null.
func logQueues(queues []string) []string {
	if queues == nil {
		return []string{}
	}
	return queues
}
