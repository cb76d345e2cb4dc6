package bench

import (
	"context"
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"

	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// Sample sizes, chosen so that `make bench` takes about two minutes on two
// cores; raise them for steadier medians on a quiet machine.
var (
	flagEnqueueN   = flag.Int("jobq.enqueues", 150, "processes of each kind per enqueue benchmark")
	flagBatchN     = flag.Int("jobq.batch", 200000, "lines piped into one enqueue --batch")
	flagBatchRuns  = flag.Int("jobq.batchruns", 3, "enqueue --batch runs of each kind")
	flagDrainN     = flag.Int("jobq.drain", 2000, "true jobs per drain run, and per work run (BenchmarkWorkThroughput)")
	flagDrainRuns  = flag.Int("jobq.drainruns", 3, "drain runs (and as many xargs runs)")
	flagTspN       = flag.Int("jobq.tspjobs", 1000, "jobs per end-to-end run against task-spooler")
	flagTspRuns    = flag.Int("jobq.tspruns", 3, "end-to-end runs against task-spooler")
	flagEnforce    = flag.Bool("jobq.enforce", false, "fail a benchmark whose target is missed (off by default: shared machines are noisy)")
	flagJobqBinary = flag.String("jobq.bin", os.Getenv("JOBQ_BENCH_BIN"), "use this jobq binary instead of building one (env JOBQ_BENCH_BIN)")
)

// TestMain starts a throwaway PostgreSQL server for BenchmarkDrainPostgres
// (pgtest; JOBQ_TEST_POSTGRES_URL points at one's own instead; without
// either the benchmark skips), its template database migrated to jobq's
// schema, and prints the summary after the benchmarks.
func TestMain(m *testing.M) {
	flag.Parse()
	code := pgtest.Main(m, func(ctx context.Context, url string) error {
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			return err
		}
		return s.Close()
	})
	printSummary(os.Stdout)
	for _, dir := range []string{buildDir, floorDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// jobqBinary builds jobq once per run, as a user's binary is built, so that
// every benchmark times the same executable.
func jobqBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if *flagJobqBinary != "" {
			buildPath, buildErr = filepath.Abs(*flagJobqBinary)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "jobq-bench-bin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "jobq")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/jobq/jobq")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("build jobq: %v", buildErr)
	}
	return buildPath
}

var (
	floorOnce sync.Once
	floorDir  string
	floorPath string
	floorErr  error
)

// floorBinary builds bench/floor, the program that only links the design's
// four packages, once per run, with the build settings recorded in the jobq
// binary (tags, linker flags, cgo: a static build when jobq is one), so that
// the two differ only in what jobq links and does.
func floorBinary(tb testing.TB, jobq string) string {
	tb.Helper()
	floorOnce.Do(func() {
		info, err := buildinfo.ReadFile(jobq)
		if err != nil {
			floorErr = fmt.Errorf("read jobq's build settings: %w", err)
			return
		}
		args := []string{"build"}
		env := os.Environ()
		for _, s := range info.Settings {
			switch s.Key {
			case "-tags", "-ldflags", "-gcflags", "-trimpath":
				args = append(args, s.Key+"="+s.Value)
			case "CGO_ENABLED", "CGO_CFLAGS", "CGO_LDFLAGS":
				env = append(env, s.Key+"="+s.Value)
			}
		}
		floorDir, floorErr = os.MkdirTemp("", "jobq-bench-floor-")
		if floorErr != nil {
			return
		}
		floorPath = filepath.Join(floorDir, "floor")
		cmd := exec.Command("go", append(args, "-o", floorPath, "github.com/jobq/jobq/bench/floor")...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			floorErr = fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
	})
	if floorErr != nil {
		tb.Fatalf("build the floor: %v", floorErr)
	}
	return floorPath
}

// A result is one target's verdict, gathered for the summary printed after
// all benchmarks.
type result struct {
	name     string
	measured string
	target   string
	met      bool
	hasGoal  bool
}

var (
	resultsMu sync.Mutex
	results   []result
)

// target records a measured value against its goal, logs it, and fails the
// benchmark when -jobq.enforce is set and the goal is missed.
func target(b *testing.B, name, measured, goal string, met bool) {
	b.Helper()
	resultsMu.Lock()
	results = append(results, result{name: name, measured: measured, target: goal, met: met, hasGoal: goal != ""})
	resultsMu.Unlock()
	verdict := ""
	switch {
	case goal == "":
	case met:
		verdict = " (target " + goal + ": met)"
	default:
		verdict = " (target " + goal + ": MISSED)"
	}
	b.Logf("%s: %s%s", name, measured, verdict)
	if goal != "" && !met && *flagEnforce {
		b.Errorf("%s: target %s missed: %s", name, goal, measured)
	}
}

// skip skips b with why, and repeats why in the summary, which go test
// prints without -v, unlike a skipped benchmark's message.
func skip(b *testing.B, why string) {
	b.Helper()
	resultsMu.Lock()
	results = append(results, result{name: b.Name(), measured: "SKIPPED: " + why})
	resultsMu.Unlock()
	b.Skip(why)
}

// note records a measured value that has no target of its own.
func note(b *testing.B, name, measured string) {
	b.Helper()
	target(b, name, measured, "", true)
}

func printSummary(w *os.File) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Fprintln(w, "\njobq benchmark summary (medians; ratios are jobq / baseline, taken alternately in this run)")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tRESULT\tTARGET\tVERDICT")
	for _, r := range results {
		verdict := "-"
		if r.hasGoal {
			verdict = map[bool]string{true: "met", false: "MISSED"}[r.met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.measured, orDash(r.target), verdict)
	}
	tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
