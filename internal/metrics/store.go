// Package metrics is jobq's Prometheus exposition: the families read from
// a queue.Store (jobq metrics, and every scrape of jobq work
// --metrics-addr), a worker's own, and its /healthz. Names follow
// Prometheus's naming practices: the jobq_ prefix, base units (seconds,
// bytes), _total on counters. docs/monitoring.md lists them.
package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobq/jobq/internal/queue"
)

// storeDescs are the descriptions of the store's families. They are made
// with the collector, not at package init: every jobq command links this
// package, and only jobq metrics and jobq work --metrics-addr use them.
type storeDescs struct {
	jobs, oldestReady, ended, paused, concurrency, rate, ratePeriod, size                              *prometheus.Desc
	scheduleSuccess, scheduleFailures, schedulePeriod, scheduleCreated, scheduleActive, schedulePaused *prometheus.Desc
}

func newStoreDescs() storeDescs {
	return storeDescs{
		jobs: prometheus.NewDesc("jobq_jobs",
			"Jobs by queue and state as users see them (jobq stats): a scheduled or retrying job whose time has come is pending.",
			[]string{"queue", "state"}, nil),
		oldestReady: prometheus.NewDesc("jobq_queue_oldest_ready_age_seconds",
			"How long the queue's oldest ready job has waited to start; 0 when no job is ready.",
			[]string{"queue"}, nil),
		ended: prometheus.NewDesc("jobq_jobs_ended_total",
			"Jobs that ended, by queue and final state (succeeded, dead, cancelled), since the database was made; deleting jobs (retention, purge) does not lower it.",
			[]string{"queue", "state"}, nil),
		paused: prometheus.NewDesc("jobq_queue_paused",
			"1 while the queue is paused (jobq queue pause), else 0.",
			[]string{"queue"}, nil),
		concurrency: prometheus.NewDesc("jobq_queue_concurrency_limit",
			"Running jobs the queue allows at most, across all workers (jobq queue limit --concurrency); absent when unlimited.",
			[]string{"queue"}, nil),
		rate: prometheus.NewDesc("jobq_queue_rate_limit_jobs",
			"Jobs the queue starts at most per jobq_queue_rate_limit_period_seconds (jobq queue limit --rate); absent when unlimited.",
			[]string{"queue"}, nil),
		ratePeriod: prometheus.NewDesc("jobq_queue_rate_limit_period_seconds",
			"The period of the queue's rate limit; absent when unlimited.",
			[]string{"queue"}, nil),
		scheduleSuccess: prometheus.NewDesc("jobq_schedule_last_success_timestamp_seconds",
			"When a job of the schedule last succeeded, in Unix seconds; absent until one has.",
			[]string{"schedule"}, nil),
		scheduleFailures: prometheus.NewDesc("jobq_schedule_consecutive_failures",
			"Jobs of the schedule that ended dead since its last success.",
			[]string{"schedule"}, nil),
		schedulePeriod: prometheus.NewDesc("jobq_schedule_period_seconds",
			"The longest time between two ticks of the schedule (a weekday schedule's weekend).",
			[]string{"schedule"}, nil),
		scheduleCreated: prometheus.NewDesc("jobq_schedule_created_timestamp_seconds",
			"When the schedule was added, in Unix seconds.",
			[]string{"schedule"}, nil),
		scheduleActive: prometheus.NewDesc("jobq_schedule_active_since_timestamp_seconds",
			"When the schedule last began to tick (added, or resumed from a pause), in Unix seconds: an alert on its last success counts from here until one comes.",
			[]string{"schedule"}, nil),
		schedulePaused: prometheus.NewDesc("jobq_schedule_paused",
			"1 while the schedule is paused (jobq schedule pause), else 0.",
			[]string{"schedule"}, nil),
		size: prometheus.NewDesc("jobq_database_size_bytes",
			"The space the database takes (SQLite: its file and its WAL).",
			nil, nil),
	}
}

// storeCollector reads the store at every collection: one read of each
// of QueueStats, StoreStats and ScheduleList, whose costs grow with the
// number of queues and schedules, not of jobs.
type storeCollector struct {
	store queue.Store
	now   func() time.Time
	d     storeDescs
}

// NewStoreCollector returns the collector of the families read from
// store, the whole database's: what jobq metrics prints and every worker
// with --metrics-addr serves.
func NewStoreCollector(store queue.Store, now func() time.Time) prometheus.Collector {
	return &storeCollector{store: store, now: now, d: newStoreDescs()}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.d
	for _, desc := range []*prometheus.Desc{d.jobs, d.oldestReady, d.ended, d.paused, d.concurrency, d.rate,
		d.ratePeriod, d.scheduleSuccess, d.scheduleFailures, d.schedulePeriod, d.scheduleCreated, d.scheduleActive, d.schedulePaused, d.size} {
		ch <- desc
	}
}

// Collect reads everything first, so that a failed read sends one
// invalid metric (the scrape's error) and nothing half read.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ms, err := c.read(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.d.jobs, err)
		return
	}
	for _, m := range ms {
		ch <- m
	}
}

func (c *storeCollector) read(ctx context.Context) ([]prometheus.Metric, error) {
	now, d := c.now(), &c.d
	stats, err := c.store.QueueStats(ctx, queue.QueueStatsParams{Now: now, RecentSince: now})
	if err != nil {
		return nil, fmt.Errorf("read queues: %w", err)
	}
	totals, err := c.store.StoreStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("read totals: %w", err)
	}
	schedules, err := c.store.ScheduleList(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schedules: %w", err)
	}
	var out []prometheus.Metric
	add := func(desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(desc, t, v, labels...))
	}
	for _, q := range stats {
		for _, st := range queue.States {
			add(d.jobs, prometheus.GaugeValue, float64(q.Counts[st]), q.Name, string(st))
		}
		age := 0.0
		if !q.OldestReady.IsZero() {
			age = max(0, now.Sub(q.OldestReady).Seconds())
		}
		add(d.oldestReady, prometheus.GaugeValue, age, q.Name)
		add(d.paused, prometheus.GaugeValue, boolValue(q.Paused), q.Name)
		if q.Concurrency > 0 {
			add(d.concurrency, prometheus.GaugeValue, float64(q.Concurrency), q.Name)
		}
		if q.Rate > 0 {
			add(d.rate, prometheus.GaugeValue, float64(q.Rate), q.Name)
			add(d.ratePeriod, prometheus.GaugeValue, q.RatePeriod.Seconds(), q.Name)
		}
	}
	// Every final state of every queue, 0 included: a series that first
	// appears at 1 is no increase to increase(), and the first job of a
	// queue to go dead would alert no one.
	ended := map[string]map[queue.State]int64{}
	for _, q := range stats {
		ended[q.Name] = map[queue.State]int64{}
	}
	for _, e := range totals.Ended {
		if ended[e.Queue] == nil {
			ended[e.Queue] = map[queue.State]int64{}
		}
		ended[e.Queue][e.State] += e.N
	}
	for name, counts := range ended {
		for _, st := range queue.FinalStates {
			add(d.ended, prometheus.CounterValue, float64(counts[st]), name, string(st))
		}
	}
	for _, sc := range schedules {
		if !sc.LastSuccess.IsZero() {
			add(d.scheduleSuccess, prometheus.GaugeValue, unixSeconds(sc.LastSuccess), sc.Name)
		}
		add(d.scheduleFailures, prometheus.GaugeValue, float64(sc.Failures), sc.Name)
		if timing, err := queue.ParseTiming(sc.Expr, sc.Zone); err == nil {
			add(d.schedulePeriod, prometheus.GaugeValue, timing.Period().Seconds(), sc.Name)
		}
		add(d.scheduleCreated, prometheus.GaugeValue, unixSeconds(sc.CreatedAt), sc.Name)
		add(d.scheduleActive, prometheus.GaugeValue, unixSeconds(sc.ActiveSince), sc.Name)
		add(d.schedulePaused, prometheus.GaugeValue, boolValue(sc.Paused), sc.Name)
	}
	add(d.size, prometheus.GaugeValue, float64(totals.SizeBytes))
	return out, nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }
