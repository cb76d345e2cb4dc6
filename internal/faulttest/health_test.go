package faulttest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// TestHealthServerDownPostgres: a PostgreSQL worker's /healthz (jobq
// work --metrics-addr) answers 200 while the server runs, 503 with one
// line saying the database does not answer while it is down, and 200
// again once it is back, the worker having ridden it out. (SQLite's
// counterpart, the database file removed, is cmd's work_metrics script.)
func TestHealthServerDownPostgres(t *testing.T) {
	q := setupPostgres(t, "JOBQ_WORK_LEASE=3s")
	if ok, _ := pgtest.Available(); ok && !pgtest.CanRestart() {
		t.Skip("the tests use a server of their own (" + pgtest.EnvURL + "): not stopped")
	}
	var (
		healthz string
		status  int
		body    string
	)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func() bool {
		resp, err := client.Get(healthz)
		if err != nil {
			return false // not listening yet
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return true
	}
	// The port was free a moment ago; another process may take it before
	// the worker listens: then the worker exits saying so, and one more
	// try on another port follows.
	var w *worker
	for try := 1; ; try++ {
		addr := freeAddr(t)
		healthz = "http://" + addr + "/healthz"
		w = q.startWorker(fmt.Sprintf("w%d", try), "--metrics-addr", addr)
		exited := false
		waitFor(t, time.Minute, "/healthz 200 before the server stops", func() bool {
			select {
			case <-w.done:
				exited = true
				return true
			default:
			}
			return get() && status == http.StatusOK
		})
		if !exited {
			break
		}
		if out := w.output(); try > 1 || !strings.Contains(out, "address already in use") {
			t.Fatalf("worker exited before /healthz answered 200:\n%s", out)
		}
	}
	if body != "ok\n" {
		t.Errorf("/healthz of a healthy worker: %q, want \"ok\\n\"", body)
	}

	// The server stopped: a 503 must come, and say the database (its
	// ping fails at once), not the loop (whose StaleAfter, lease 3 s +
	// busy timeout 10 s, is far off). The wait starts once the server is
	// down, and is generous, as a loaded machine may be slow to notice.
	start, err := pgtest.Stop()
	if err != nil {
		t.Fatalf("stop the server: %v", err)
	}
	t.Cleanup(func() { _ = start() }) // a failure below leaves the server up for the next test
	waitFor(t, time.Minute, "/healthz 503 while the server is down", func() bool {
		return get() && status == http.StatusServiceUnavailable
	})
	if !strings.HasPrefix(body, "database: PostgreSQL does not answer: ") || strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
		t.Errorf("/healthz while the server is down: %q, want one line saying PostgreSQL does not answer", body)
	}
	if err := start(); err != nil {
		t.Fatalf("start the server again: %v", err)
	}
	waitFor(t, time.Minute, "/healthz 200 once the server is back", func() bool { return get() && status == http.StatusOK })

	// And the worker still works.
	id := q.enqueue("true")
	q.mustJobq("", "wait", strconv.FormatInt(id, 10), "--timeout", "60s")
	w.stop(30 * time.Second)
}

// freeAddr returns an address of 127.0.0.1 whose port was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
