package queue

import (
	"fmt"
	"iter"
	"time"
)

// Jobs is the stream of a few jobs, for JobInsert.
func Jobs(params ...JobInsertParams) iter.Seq2[JobInsertParams, error] {
	return func(yield func(JobInsertParams, error) bool) {
		for _, p := range params {
			if !yield(p, nil) {
				return
			}
		}
	}
}

// InsertBatch is what a Store keeps while JobInsert reads its stream: the
// rules of unique keys and --after, written once for every store. For
// each job of the stream, in order, the store calls Add; it inserts the
// jobs Add says to, in that order, and gives their IDs to Inserted; it
// then records Deps, and IDs returns every job's ID.
type InsertBatch struct {
	ids     []int64        // per job of the stream
	pending []int          // indexes of the jobs to insert whose IDs are not known yet
	keys    map[string]int // unique key -> index of the job that inserts it
	sameAs  [][2]int       // a job, and the earlier one whose ID it takes
	states  map[int64]State
	minID   int64 // the lowest ID inserted; 0 before any
	// Deps are the jobs inserted with --after, for the store to record
	// their dependencies once they have IDs, and to cancel those whose
	// Failed says why.
	Deps []InsertDeps
}

// InsertDeps is a job inserted with --after.
type InsertDeps struct {
	Index  int     // in the stream: its ID is IDs()[Index]
	After  []int64 // the jobs it waits for
	Failed string  // not empty: one of them already failed; cancel it, saying this
	// CreatedAt is the job's: a cancel for Failed happens then.
	CreatedAt time.Time
}

// Add settles the next job of the stream, p: the state its dependencies
// call for (afterState), reading the stored state of each through state
// (once per job named, as no job ends during an insert), and whether it is
// to be inserted: not when its unique key belongs to a job not yet final,
// one earlier in the stream or one stored, whose ID lookup returns
// (0: none). A dependency inserted by this same call is not found, as it
// was not when the whole batch was settled before its insert.
//
// Dependencies are checked before the unique key: a job named by --after
// that does not exist is an error whatever the key, as it was when a
// batch was settled whole.
func (b *InsertBatch) Add(p *JobInsertParams, lookup func(key string) (int64, error), state func(id int64) (State, error)) (insert bool, err error) {
	var deps []State
	if len(p.After) > 0 {
		deps = make([]State, len(p.After))
		for k, dep := range p.After {
			if deps[k], err = b.state(dep, state); err != nil {
				return false, fmt.Errorf("--after job %d: %w", dep, err)
			}
		}
	}
	i := len(b.ids)
	b.ids = append(b.ids, 0)
	if p.UniqueKey != "" {
		if j, ok := b.keys[p.UniqueKey]; ok {
			b.sameAs = append(b.sameAs, [2]int{i, j})
			return false, nil
		}
		id, err := lookup(p.UniqueKey)
		if err != nil {
			return false, err
		}
		if id != 0 {
			b.ids[i] = id
			return false, nil
		}
		if b.keys == nil {
			b.keys = map[string]int{}
		}
		b.keys[p.UniqueKey] = i
	}
	if deps != nil {
		var why string
		p.State, why = afterState(*p, deps)
		b.Deps = append(b.Deps, InsertDeps{Index: i, After: p.After, Failed: why, CreatedAt: p.CreatedAt})
	}
	b.pending = append(b.pending, i)
	return true, nil
}

func (b *InsertBatch) state(dep int64, state func(id int64) (State, error)) (State, error) {
	if st, ok := b.states[dep]; ok {
		return st, nil
	}
	if b.minID != 0 && dep >= b.minID {
		return "", ErrNotFound
	}
	st, err := state(dep)
	if err != nil {
		return "", err
	}
	if b.states == nil {
		b.states = map[int64]State{}
	}
	b.states[dep] = st
	return st, nil
}

// Pending is how many jobs Add said to insert that have no ID yet.
func (b *InsertBatch) Pending() int { return len(b.pending) }

// Inserted gives IDs to the first len(ids) jobs Add said to insert that
// have none yet, in order.
func (b *InsertBatch) Inserted(ids []int64) {
	for k, id := range ids {
		b.ids[b.pending[k]] = id
		if b.minID == 0 || id < b.minID {
			b.minID = id
		}
	}
	// Moved to the front, not resliced: a slice that only ever lost its
	// front would be reallocated as it grows.
	b.pending = b.pending[:copy(b.pending, b.pending[len(ids):])]
}

// IDs returns the ID of every job of the stream, in order, once all those
// to insert have theirs.
func (b *InsertBatch) IDs() []int64 {
	for _, s := range b.sameAs {
		b.ids[s[0]] = b.ids[s[1]]
	}
	b.sameAs = nil
	if b.ids == nil {
		return []int64{}
	}
	return b.ids
}
