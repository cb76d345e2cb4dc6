package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health answers /healthz: 200 "ok" while the worker's loop turns and the
// database answers, 503 and one line saying why otherwise.
type Health struct {
	Worker *Worker
	Store  interface{ Ping(context.Context) error }
	// StaleAfter is how long the loop may go without turning: it turns
	// at least every half lease when idle, so longer means it is stuck
	// (in a write that waits for the lock, for one).
	StaleAfter time.Duration
	// Timeout bounds the ping.
	Timeout time.Duration
}

// Check says why the worker is unhealthy, or nil.
func (h *Health) Check(ctx context.Context) error {
	last, stopping := h.Worker.loop()
	switch {
	case last.IsZero():
		return fmt.Errorf("starting: the worker's loop has not turned yet")
	case stopping:
		return fmt.Errorf("stopping: the worker claims no more jobs")
	case time.Since(last) > h.StaleAfter:
		return fmt.Errorf("the worker's loop has not turned for %v", time.Since(last).Round(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	if err := h.Store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, oneLine(err.Error()))
		return
	}
	fmt.Fprintln(w, "ok")
}

// oneLine keeps a reason on one line, whatever a driver's error holds.
func oneLine(s string) string {
	out := []rune(s)
	for i, r := range out {
		if r == '\n' || r == '\r' {
			out[i] = ' '
		}
	}
	return string(out)
}

// Collector is jobq_worker_healthy, /healthz as a metric: checked at
// every scrape, so that an alert sees what /healthz says (a database file
// removed under the worker leaves every other family looking well).
func (h *Health) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobq_worker_healthy",
		Help: "1 while /healthz answers 200 (the worker's loop turns and the database answers), else 0.",
	}, func() float64 {
		return boolValue(h.Check(context.Background()) == nil)
	})
}
