package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobq/jobq/internal/queue"
)

// Worker is a worker's own metrics, beside the store's: its running jobs,
// its attempts by outcome and their durations, how long its claims take
// and its failed lease renewals. It is the runner's queue.Observer, and
// its Loop the runner's OnLoop, which /healthz reads.
type Worker struct {
	running     prometheus.Gauge
	attempts    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	claim       prometheus.Histogram
	renewFailed prometheus.Counter

	mu       sync.Mutex
	lastLoop time.Time // the loop's last turn; zero before the first
	stopping bool      // the loop says it stops
	told     bool      // its work context is done (StopWith): it stops
}

var _ queue.Observer = (*Worker)(nil)

// NewWorker returns a worker's metrics, all at zero.
func NewWorker() *Worker {
	return &Worker{
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobq_worker_jobs_running",
			Help: "Jobs this worker is running.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobq_worker_attempts_total",
			Help: "Attempts this worker ran to an end, by queue and outcome: succeeded, retrying, dead, cancelled, handed_back (stopped at shutdown, no attempt used) or lost (the lease was lost: not recorded).",
		}, []string{"queue", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobq_worker_job_duration_seconds",
			Help:    "How long this worker's attempts ran, from claim to end, by queue.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600},
		}, []string{"queue"}),
		claim: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jobq_worker_claim_duration_seconds",
			Help:    "How long one claim took this worker: one transaction that records the outcomes of ended attempts and claims ready jobs, waiting for the write lock included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
		}),
		renewFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobq_worker_lease_renewals_failed_total",
			Help: "Heartbeats of this worker that could not renew its leases; after a lease's worth, it stops those jobs.",
		}),
	}
}

// Collectors are the worker's own families. The process's (CPU, memory,
// open files: process_*) and the Go runtime's (go_*) are client_golang's
// default registry's, which NewServer serves beside them.
func (w *Worker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.running, w.attempts, w.duration, w.claim, w.renewFailed}
}

// Loop is the runner's OnLoop: the loop turned, with s.Running jobs.
func (w *Worker) Loop(s queue.Snapshot) {
	w.running.Set(float64(s.Running))
	w.mu.Lock()
	w.lastLoop, w.stopping = time.Now(), s.Stopping
	w.mu.Unlock()
}

// StopWith makes /healthz say "stopping" as soon as ctx, the worker's
// work context (cancelled by SIGTERM or SIGINT), is done: the loop may
// wait for its running jobs without turning, up to half a lease, and
// a worker that claims nothing more must not look healthy meanwhile.
func (w *Worker) StopWith(ctx context.Context) {
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.told = true
		w.mu.Unlock()
	})
}

// loop says when the loop last turned and whether it is stopping.
func (w *Worker) loop() (last time.Time, stopping bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastLoop, w.stopping || w.told
}

// Claimed observes one claim's time.
func (w *Worker) Claimed(d time.Duration) { w.claim.Observe(d.Seconds()) }

// Finished counts an attempt's outcome and observes its duration.
func (w *Worker) Finished(job *queue.Job, p queue.JobFinishParams, lost bool) {
	outcome := string(p.State)
	switch {
	case lost:
		outcome = "lost"
	case p.State == queue.StatePending:
		outcome = "handed_back"
	}
	w.attempts.WithLabelValues(job.Queue, outcome).Inc()
	if !job.StartedAt.IsZero() && !p.FinishedAt.IsZero() {
		w.duration.WithLabelValues(job.Queue).Observe(max(0, p.FinishedAt.Sub(job.StartedAt).Seconds()))
	}
}

// RenewFailed counts a failed heartbeat.
func (w *Worker) RenewFailed() { w.renewFailed.Inc() }
