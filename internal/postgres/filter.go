package postgres

import (
	"slices"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

// The domain's lists of states as SQL, as in the sqlite store: the
// partial indexes' conditions name them literally.
var (
	readyCondition = "state IN (" + sqlStates(queue.ReadyStates) + ")"
	finalStates    = sqlStates(queue.FinalStates)
)

// sqlStates is states as a list of SQL literals: 'pending', 'scheduled'.
func sqlStates(states []queue.State) string {
	quoted := make([]string, len(states))
	for i, st := range states {
		quoted[i] = "'" + string(st) + "'"
	}
	return strings.Join(quoted, ", ")
}

// jobFilter is the SQL condition selecting the jobs of f (never empty),
// its placeholders numbered on from p's. Its Limit is the caller's to
// apply.
func jobFilter(f queue.JobFilter, p *placeholders) string {
	where := []string{"true"}
	if len(f.IDs) > 0 {
		where = append(where, "id = ANY("+p.add(f.IDs)+")")
	}
	if len(f.States) > 0 {
		var or []string
		now := ms(f.Now)
		for _, st := range f.States {
			switch {
			case st == queue.StatePending: // as users see it: ready now
				or = append(or, "state = 'pending' OR (state IN ("+sqlStates(queue.TimedStates)+") AND run_at <= "+p.add(now)+")")
			case slices.Contains(queue.TimedStates, st):
				or = append(or, "(state = "+p.add(string(st))+" AND run_at > "+p.add(now)+")")
			default:
				or = append(or, "state = "+p.add(string(st)))
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if len(f.Queues) > 0 {
		where = append(where, "queue = ANY("+p.add(f.Queues)+")")
	}
	if len(f.ExitCodes) > 0 {
		codes := make([]int64, len(f.ExitCodes))
		for i, c := range f.ExitCodes {
			codes[i] = int64(c)
		}
		where = append(where, "exit_code = ANY("+p.add(codes)+")")
	}
	if f.ScheduleID != 0 {
		where = append(where, "schedule_id = "+p.add(f.ScheduleID))
	}
	if f.Error != "" {
		where = append(where, "position("+p.add([]byte(f.Error))+"::bytea IN last_error) > 0")
	}
	at := "coalesce(finished_at, created_at)"
	if onlyFinal(f.States) {
		at = "finished_at"
	}
	if !f.Since.IsZero() {
		where = append(where, at+" >= "+p.add(ms(f.Since)))
	}
	if !f.Before.IsZero() {
		where = append(where, at+" < "+p.add(ms(f.Before)))
	}
	return strings.Join(where, " AND ")
}

// onlyFinal reports whether states are all final, and at least one.
func onlyFinal(states []queue.State) bool {
	return len(states) > 0 && !slices.ContainsFunc(states, func(s queue.State) bool { return !s.Final() })
}
