// Package vmsteps counts the instructions of SQLite's virtual machine run
// on one connection of mattn/go-sqlite3 (its progress handler called at
// every instruction), so that a test can assert what a statement costs in
// a figure no machine's speed or load changes. The driver does not give
// sqlite3_stmt_status, and a statement it keeps would hide its own counts
// anyway; a connection's count takes in every statement and trigger
// program run on it. For tests only: a handler called at every
// instruction slows SQLite down several times.
package vmsteps

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
void sqlite3_progress_handler(sqlite3*, int, int(*)(void*), void*);
sqlite3_stmt *sqlite3_next_stmt(sqlite3*, sqlite3_stmt*);
int sqlite3_stmt_status(sqlite3_stmt*, int, int);
const char *sqlite3_sql(sqlite3_stmt*);

static sqlite3_stmt *next_stmt(void *db, sqlite3_stmt *p) {
	return sqlite3_next_stmt((sqlite3 *)db, p);
}

static int count_step(void *p) {
	(*(int64_t *)p)++;
	return 0;
}

static int64_t *install(void *db) {
	int64_t *n = calloc(1, sizeof *n);
	if (n != NULL) sqlite3_progress_handler((sqlite3 *)db, 1, count_step, n);
	return n;
}

static void uninstall(void *db, int64_t *n) {
	sqlite3_progress_handler((sqlite3 *)db, 0, NULL, NULL);
	free(n);
}
*/
import "C"

import (
	"errors"
	"reflect"
	"unsafe"
)

// Counter counts the instructions run on one connection.
type Counter struct {
	db unsafe.Pointer
	n  *C.int64_t
}

// Install starts counting on driverConn, the *sqlite3.SQLiteConn that
// database/sql's Conn.Raw hands over. The counter stays on the connection
// until Uninstall, whichever goroutine uses it: read it only while no one
// else runs statements on that connection.
func Install(driverConn any) (*Counter, error) {
	v := reflect.ValueOf(driverConn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, errors.New("vmsteps: not a *sqlite3.SQLiteConn")
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, errors.New("vmsteps: the connection has no open sqlite3 handle")
	}
	db := f.UnsafePointer()
	n := C.install(db)
	if n == nil {
		return nil, errors.New("vmsteps: out of memory")
	}
	return &Counter{db: db, n: n}, nil
}

// Steps is the number of instructions run since Install.
func (c *Counter) Steps() int64 { return int64(*c.n) }

// Uninstall stops counting; the Counter must not be used after.
func (c *Counter) Uninstall() {
	C.uninstall(c.db, c.n)
	c.n = nil
}

// Reprepares gives, for each statement open on the connection, how many
// times SQLite compiled it again (SQLITE_STMTSTATUS_REPREPARE, 5), by
// its text.
func (c *Counter) Reprepares() map[string]int {
	out := map[string]int{}
	for p := C.next_stmt(c.db, nil); p != nil; p = C.next_stmt(c.db, p) {
		out[C.GoString(C.sqlite3_sql(p))] += int(C.sqlite3_stmt_status(p, 5, 0))
	}
	return out
}
