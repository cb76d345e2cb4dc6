package queue

import (
	"fmt"
	"slices"
)

// afterState decides the state of a new job inserted with --after (p),
// from the stored states of the jobs it names (deps[i] is that of
// p.After[i]): waiting while one of them has not succeeded; once all
// have, the state it would have without --after (nothing would ever wake
// a waiting job). failed, when not empty, says why the job is to be
// cancelled as soon as it is inserted: the first of its dependencies that
// already ended dead or cancelled. It is inserted waiting all the same,
// so that the event log shows the cancel and its cause.
func afterState(p JobInsertParams, deps []State) (state State, failed string) {
	waits := false
	for i, st := range deps {
		switch st {
		case StateSucceeded:
		case StateDead, StateCancelled:
			if failed == "" {
				failed = fmt.Sprintf("dependency %d ended %s", p.After[i], st)
			}
			waits = true
		default:
			waits = true
		}
	}
	switch {
	case waits:
		return StateWaiting, failed
	case p.State == StateWaiting:
		return NewJobState(p.RunAt, p.CreatedAt), ""
	}
	return p.State, ""
}

// SettleAfter gives each job of params inserted with --after the state
// its dependencies call for (afterState), reading the stored state of
// each dependency through state, in the insert's transaction; state
// returns an error for a job that does not exist. params is returned as
// it is when no job has --after, otherwise a copy (the caller's stay as
// they are); failed maps the index of each job to cancel at once,
// inserted, to why.
func SettleAfter(params []JobInsertParams, state func(id int64) (State, error)) (out []JobInsertParams, failed map[int]string, err error) {
	out = params
	var deps []State
	for i := range params {
		if len(params[i].After) == 0 {
			continue
		}
		if failed == nil {
			out = slices.Clone(params)
			failed = map[int]string{}
		}
		deps = deps[:0]
		for _, dep := range params[i].After {
			st, err := state(dep)
			if err != nil {
				return nil, nil, err
			}
			deps = append(deps, st)
		}
		var why string
		if out[i].State, why = afterState(out[i], deps); why != "" {
			failed[i] = why
		}
	}
	return out, failed, nil
}
