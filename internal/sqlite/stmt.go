package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// SQLite compiles a statement each time database/sql's Exec or Query is
// given its text, triggers included: a profile of claim and finish put
// 30% of its samples in the compiler (docs/performance.md, issue 10). So the statements of the hot paths are
// prepared once on the writer connection and kept for the life of the
// store. A transaction uses them through Tx.StmtContext, which finds the
// statement already prepared on its connection (the writer has one).

// maxStmts bounds the statements kept: a claim's text depends on its
// queues and its limit, and a process that claims from ever new sets of them should not
// keep a statement for each.
const maxStmts = 64

// stmtCache holds the statements kept, by their text.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepare prepares queries on the writer, each once for the life of the
// store. Call it before beginning the transaction that uses them: the
// writer's one connection belongs to an open transaction until it ends,
// so preparing on the pool inside one would wait for ever.
func (s *Store) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		s.stmts.mu.Lock()
		_, ok := s.stmts.m[q]
		full := len(s.stmts.m) >= maxStmts
		s.stmts.mu.Unlock()
		if ok || full {
			continue
		}
		// Not under the lock: this waits for the writer, and a
		// transaction holding it may need the lock to finish.
		st, err := s.writer.PrepareContext(ctx, q)
		if err != nil {
			return interpretError(err)
		}
		s.stmts.mu.Lock()
		if _, ok := s.stmts.m[q]; ok {
			st.Close() // another goroutine was first
		} else {
			if s.stmts.m == nil {
				s.stmts.m = map[string]*sql.Stmt{}
			}
			s.stmts.m[q] = st
		}
		s.stmts.mu.Unlock()
	}
	return nil
}

// stmt returns query prepared in tx: the statement kept by prepare, or,
// if it was not, one prepared for tx alone.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st := (keptTx{s, tx}).kept(ctx, query); st != nil {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, query)
	return st, interpretError(err)
}

// closeStmts closes the statements kept; Close calls it.
func (s *Store) closeStmts() error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	var errs []error
	for q, st := range s.stmts.m {
		errs = append(errs, st.Close())
		delete(s.stmts.m, q)
	}
	return errors.Join(errs...)
}

// keptTx runs statements in tx, with the statements kept where there are
// and by their text otherwise.
type keptTx struct {
	s  *Store
	tx *sql.Tx
}

func (k keptTx) kept(ctx context.Context, query string) *sql.Stmt {
	k.s.stmts.mu.Lock()
	st := k.s.stmts.m[query]
	k.s.stmts.mu.Unlock()
	if st == nil {
		return nil
	}
	return k.tx.StmtContext(ctx, st)
}

func (k keptTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := k.kept(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return k.tx.ExecContext(ctx, query, args...)
}

func (k keptTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := k.kept(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return k.tx.QueryContext(ctx, query, args...)
}

func (k keptTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := k.kept(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return k.tx.QueryRowContext(ctx, query, args...)
}
