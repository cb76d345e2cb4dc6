package queue

import (
	"fmt"
	"sync"
)

// tailBuffer keeps the last limit bytes written to it: a job's output is
// bounded however much it prints. It is safe for concurrent writes because
// stdout and stderr share it.
type tailBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte // ring of at most limit bytes once full
	start   int    // index of the oldest byte when full
	dropped int64
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if t.limit <= 0 {
		t.dropped += int64(n)
		return n, nil
	}
	for len(p) > 0 {
		if len(t.buf) < t.limit {
			k := min(len(p), t.limit-len(t.buf))
			t.buf = append(t.buf, p[:k]...)
			p = p[k:]
			continue
		}
		if len(p) >= t.limit { // only the last limit bytes of p can stay
			t.dropped += int64(len(t.buf) + len(p) - t.limit)
			p = p[len(p)-t.limit:]
			t.buf, t.start = append(t.buf[:0], p...), 0
			return n, nil
		}
		k := copy(t.buf[t.start:], p)
		t.dropped += int64(k)
		t.start = (t.start + k) % t.limit
		p = p[k:]
	}
	return n, nil
}

// Bytes returns what was kept, oldest first, after a marker line saying how
// much was cut when anything was.
func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []byte
	if t.dropped > 0 {
		out = fmt.Appendf(out, "[jobq: output cut, %d earlier bytes dropped]\n", t.dropped)
	}
	out = append(out, t.buf[t.start:]...)
	return append(out, t.buf[:t.start]...)
}
