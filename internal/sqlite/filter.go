package sqlite

import (
	"slices"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

// The domain's lists of states as SQL: readyCondition is the condition of
// the partial indexes jobs_ready and jobs_queue_ready, which SQLite uses
// only for a query that repeats it word for word (TestIndexesMatchStates
// checks that the schema's literals are these), written as = ... OR since
// migration 0004 (sqlOneOf); finalStates is the list jobs_unique_key
// leaves out.
var (
	readyCondition = sqlOneOf("state", queue.ReadyStates)
	finalStates    = sqlStates(queue.FinalStates)
)

// sqlStates is states as a list of SQL literals: 'pending', 'scheduled'.
// A state is a fixed word without quotes, so nothing needs escaping.
func sqlStates(states []queue.State) string {
	quoted := make([]string, len(states))
	for i, st := range states {
		quoted[i] = "'" + string(st) + "'"
	}
	return strings.Join(quoted, ", ")
}

// sqlOneOf is the condition that column holds one of states, as a chain
// of = ... OR in parentheses: how the triggers and the ready indexes test
// states (migration 0004). SQLite evaluates an IN of more than two values
// through a temporary B-tree, searched for every row a statement writes
// (an index's condition) and built again every time a trigger fires.
func sqlOneOf(column string, states []queue.State) string {
	terms := make([]string, len(states))
	for i, st := range states {
		terms[i] = column + " = '" + string(st) + "'"
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

// jobFilter is the SQL condition selecting the jobs of f (never empty),
// and its arguments. Its Limit is the caller's to apply.
func jobFilter(f queue.JobFilter) (string, []any) {
	where := []string{"1"}
	var args []any
	in := func(column string, n int) {
		where = append(where, column+" IN ("+placeholders(n)+")")
	}
	if len(f.IDs) > 0 {
		in("id", len(f.IDs))
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.States) > 0 {
		var or []string
		now := ms(f.Now)
		for _, st := range f.States {
			switch {
			case st == queue.StatePending: // as users see it: ready now
				or = append(or, "state = 'pending' OR (state IN ("+sqlStates(queue.TimedStates)+") AND run_at <= ?)")
				args = append(args, now)
			case slices.Contains(queue.TimedStates, st):
				or = append(or, "(state = ? AND run_at > ?)")
				args = append(args, string(st), now)
			default:
				or = append(or, "state = ?")
				args = append(args, string(st))
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if len(f.Queues) > 0 {
		in("queue", len(f.Queues))
		for _, q := range f.Queues {
			args = append(args, q)
		}
	}
	if len(f.ExitCodes) > 0 {
		in("exit_code", len(f.ExitCodes))
		for _, c := range f.ExitCodes {
			args = append(args, c)
		}
	}
	if f.ScheduleID != 0 {
		where = append(where, "schedule_id = ?")
		args = append(args, f.ScheduleID)
	}
	if f.Error != "" {
		where = append(where, "instr(last_error, ?) > 0")
		args = append(args, f.Error)
	}
	// A final job's time is when it ended; the plain column lets
	// retention's deletes go through jobs_finished.
	at := "coalesce(finished_at, created_at)"
	if onlyFinal(f.States) {
		at = "finished_at"
	}
	if !f.Since.IsZero() {
		where = append(where, at+" >= ?")
		args = append(args, ms(f.Since))
	}
	if !f.Before.IsZero() {
		where = append(where, at+" < ?")
		args = append(args, ms(f.Before))
	}
	return strings.Join(where, " AND "), args
}

// onlyFinal reports whether states are all final, and at least one.
func onlyFinal(states []queue.State) bool {
	return len(states) > 0 && !slices.ContainsFunc(states, func(s queue.State) bool { return !s.Final() })
}
