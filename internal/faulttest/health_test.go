package faulttest

import (
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := q.startWorker("w", "--metrics-addr", addr)
	healthz := "http://" + addr + "/healthz"
	client := &http.Client{Timeout: 10 * time.Second}
	var status int
	var body string
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
	waitFor(t, time.Minute, "/healthz 200 before the server stops", func() bool { return get() && status == http.StatusOK })
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
