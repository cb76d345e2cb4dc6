// Package river measures jobq's store against River (riverqueue/river),
// the best-known Go job queue, on the same work in the same run: n no-op
// jobs inserted beforehand, then claimed, run and recorded as finished by
// w workers. BenchmarkClaimFinish does it on SQLite (River's SQLite
// driver; durably: WAL, synchronous=FULL), BenchmarkClaimFinishPostgres
// on PostgreSQL (River's pgx driver; jobq's test server, pgtest). It is a
// module of its own so that River stays out of jobq's go.mod; `make
// bench` runs it after bench/.
package river

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
	"github.com/jobq/jobq/internal/sqlite"
	_ "github.com/mattn/go-sqlite3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// TestMain starts a throwaway PostgreSQL server for
// BenchmarkClaimFinishPostgres (pgtest; JOBQ_TEST_POSTGRES_URL points at
// one's own instead), its template database migrated to jobq's schema.
func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, func(ctx context.Context, url string) error {
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			return err
		}
		return s.Close()
	}))
}

var (
	flagJobs    = flag.Int("jobq.riverjobs", 20000, "jobs per run")
	flagRuns    = flag.Int("jobq.riverruns", 3, "runs of each, alternating")
	flagEnforce = flag.Bool("jobq.enforce", false, "fail when jobq misses its target")
	flagPGJobs  = flag.Int("jobq.pgjobs", 5000, "jobs per run on PostgreSQL")
)

// target is issue 10's: in-process claim and finish, durable, on 2 cores.
const target = 20000.0

// BenchmarkClaimFinish runs n no-op jobs through jobq's store and through
// River, alternately, at 2 and at 100 workers. jobq's side is what its
// runner does with w slots: each transaction records the outcomes of the
// jobs that ended and claims as many (JobClaim), one commit for all. River
// runs with FetchCooldown and FetchPollInterval at their 1 ms minimum (at
// the 100 ms default it starts at most w jobs per 100 ms) and its default
// batch completer. Both figures are jobs per second of wall time, medians.
func BenchmarkClaimFinish(b *testing.B) {
	claimFinish(b, *flagJobs, "", func(b *testing.B) queue.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, func(b *testing.B, n, w int) time.Duration {
		// As River's own tests open SQLite (riversharedtest), with jobq's
		// durability: WAL, synchronous=FULL, one connection.
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(b.TempDir(), "river.db")+
			"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		return riverRun(b, n, w, riversqlite.New(db))
	})
}

// BenchmarkClaimFinishPostgres is BenchmarkClaimFinish on PostgreSQL:
// jobq's store and River's pgx driver (riverpgxv5), each on a new
// database of the same server in the same run. The test server runs with
// fsync off: the figures are what each one's SQL and locking cost, not a
// disk's.
func BenchmarkClaimFinishPostgres(b *testing.B) {
	if ok, why := pgtest.Available(); !ok {
		b.Skip(why)
	}
	claimFinish(b, *flagPGJobs, "PostgreSQL, ", func(b *testing.B) queue.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, func(b *testing.B, n, w int) time.Duration {
		pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		return riverRun(b, n, w, riverpgxv5.New(pool))
	})
}

// claimFinish runs n jobs through jobq's store (open) and through River
// (river), alternately, at 2 and at 100 workers, and reports both; the
// SQLite figure at 100 workers is held to target.
func claimFinish(b *testing.B, n int, what string, open func(*testing.B) queue.Store, riverN func(b *testing.B, n, w int) time.Duration) {
	for _, w := range []int{2, 100} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			var jq, rv []float64
			var jqCPU []time.Duration
			for i := range *flagRuns {
				runJobq := func() {
					d, cpu := jobqRun(b, open(b), n, w)
					jq = append(jq, float64(n)/d.Seconds())
					jqCPU = append(jqCPU, cpu/time.Duration(n))
				}
				runRiver := func() { rv = append(rv, float64(n)/riverN(b, n, w).Seconds()) }
				if i%2 == 0 {
					runJobq()
					runRiver()
				} else {
					runRiver()
					runJobq()
				}
			}
			mj, mr := median(jq), median(rv)
			b.Logf("jobq:  %.0f jobs/s (runs %.0f), CPU %v a job (user+sys, this process)", mj, jq, median(jqCPU))
			b.Logf("River: %.0f jobs/s (runs %.0f)", mr, rv)
			b.ReportMetric(mj, "jobq-jobs/s")
			b.ReportMetric(mr, "river-jobs/s")
			b.ReportMetric(mj/mr, "x-river")
			b.ReportMetric(float64(median(jqCPU).Microseconds()), "jobq-cpu-µs/job")
			if what != "" {
				fmt.Printf("in-process claim+finish, %s%d workers: jobq %.0f jobs/s, River %.0f jobs/s (%.1fx)\n",
					what, w, mj, mr, mj/mr)
			} else if w == 100 {
				verdict := "met"
				if mj < target {
					verdict = "MISSED"
					if *flagEnforce {
						b.Errorf("jobq %.0f jobs/s, target %.0f", mj, target)
					}
				}
				fmt.Printf("in-process claim+finish, %d workers: jobq %.0f jobs/s, River %.0f jobs/s (%.1fx); target >= %.0f jobs/s: %s\n",
					w, mj, mr, mj/mr, target, verdict)
			}
		})
	}
}

// jobqRun inserts n jobs into a new jobq database s, untimed, then claims
// and finishes them w at a time and returns how long that took and the
// CPU this process used meanwhile; it closes s.
func jobqRun(b *testing.B, s queue.Store, n, w int) (time.Duration, time.Duration) {
	ctx := context.Background()
	defer s.Close()
	t0 := time.Now()
	jobs := make([]queue.JobInsertParams, n)
	for i := range jobs {
		jobs[i] = queue.JobInsertParams{
			Queue: "default", State: queue.StatePending, Command: "true", Argv: queue.ShellArgv("true"),
			Dir: "/", RunAt: t0, MaxAttempts: 3, CreatedAt: t0,
		}
	}
	if _, err := s.JobInsert(ctx, queue.Jobs(jobs...)); err != nil {
		b.Fatal(err)
	}
	cpu0, start := cpuTime(), time.Now()
	_, done := queuetest.ClaimFinishAll(b, s, w, time.Now)
	d, cpu := time.Since(start), cpuTime()-cpu0
	if done != n {
		b.Fatalf("jobq finished %d of %d jobs", done, n)
	}
	return d, cpu
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// stallAfter is how long riverRun waits for the next completion before it
// calls River stalled.
const stallAfter = time.Minute

// riverRun does jobqRun's work with River on a new database through
// driver (see runRiver); a stall or a job not completed fails b.
func riverRun[TTx any](b *testing.B, n, w int, driver riverdriver.Driver[TTx]) time.Duration {
	d, err := runRiver(context.Background(), n, w, driver, noopWorker{}, stallAfter)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// runRiver inserts n jobs with InsertMany, untimed, then works them with
// a client of w workers running worker until River has reported every one
// completed (it does once the completion is committed), and returns how
// long that took. River is configured as its own benchmark (riverbench in
// River's cmd/river) configures it, except that FetchCooldown and
// FetchPollInterval are at River's 1 ms minimum, the fastest it allows
// (riverbench: 2 ms and 20 ms; the defaults, 100 ms and 1 s, cap it at w
// jobs per 100 ms). SQLite's pool is one connection, as riversqlite's
// documentation asks.
//
// Completions are counted through a subscription whose buffer holds all n
// events: River drops an event when a subscriber's buffer is full (1,000
// by default, while its batch completer hands over each committed batch,
// thousands, at once), which is what made this harness wait for
// completions that had happened (docs/performance.md, "make bench: River
// at 100 workers"). Once all are counted, the database must agree: n
// jobs in state completed. A job that fails or is cancelled, or no
// completion for stall, is an error that says how many jobs River holds
// in each state.
func runRiver[TTx any, W river.Worker[noopArgs]](ctx context.Context, n, w int, driver riverdriver.Driver[TTx], worker W, stall time.Duration) (time.Duration, error) {
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return 0, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return 0, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: w}},
		Workers:           workers,
		FetchCooldown:     time.Millisecond,
		FetchPollInterval: time.Millisecond,
	})
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i += 1000 {
		batch := make([]river.InsertManyParams, min(1000, n-i))
		for j := range batch {
			batch[j] = river.InsertManyParams{Args: noopArgs{}}
		}
		if _, err := client.InsertMany(ctx, batch); err != nil {
			return 0, err
		}
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	// Stopped on every way out, before the caller closes the database
	// (River's drivers must not outlive their pool).
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return client.StopAndCancel(stopCtx)
	}
	defer stop()
	timer := time.NewTimer(stall)
	defer timer.Stop()
	for done := 0; done < n; {
		select {
		case ev, ok := <-events:
			if !ok {
				return 0, fmt.Errorf("River: subscription closed after %d of %d completions", done, n)
			}
			if ev.Kind != river.EventKindJobCompleted {
				return 0, fmt.Errorf("River: job %d %s (%v); %s", ev.Job.ID, ev.Kind, ev.Job.Errors, riverStates(ctx, driver))
			}
			done++
			timer.Reset(stall)
		case <-timer.C:
			return 0, fmt.Errorf("River: %d of %d jobs completed, then none for %v; %s", done, n, stall, riverStates(ctx, driver))
		}
	}
	d := time.Since(start)
	if err := stop(); err != nil {
		return 0, fmt.Errorf("River: stop: %w", err)
	}
	completed, err := driver.GetExecutor().JobCountByState(ctx, &riverdriver.JobCountByStateParams{State: rivertype.JobStateCompleted})
	if err != nil {
		return 0, err
	}
	if completed != n {
		return 0, fmt.Errorf("River reported %d completions, its database holds %d completed jobs; %s", n, completed, riverStates(ctx, driver))
	}
	return d, nil
}

// riverStates says how many jobs River's database holds in each state
// that has any.
func riverStates[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) string {
	var parts []string
	for _, state := range rivertype.JobStates() {
		c, err := driver.GetExecutor().JobCountByState(ctx, &riverdriver.JobCountByStateParams{State: state})
		if err != nil {
			return fmt.Sprintf("jobs by state unknown: %v", err)
		}
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", state, c))
		}
	}
	return "jobs by state: " + strings.Join(parts, ", ")
}

// cpuTime is the user and system CPU this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
