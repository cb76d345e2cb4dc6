package queue

import "fmt"

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
