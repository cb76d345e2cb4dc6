package queue

import (
	"bytes"
	"fmt"
	"strconv"
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
	out, _, _ := t.Snapshot(-1)
	return out
}

// Size counts every byte written, those dropped included.
func (t *tailBuffer) Size() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped + int64(len(t.buf))
}

// Snapshot returns Bytes and Size together, or nothing (changed false)
// when Size is still known: a runner flushes only what changed.
func (t *tailBuffer) Snapshot(known int64) (out []byte, size int64, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	size = t.dropped + int64(len(t.buf))
	if size == known {
		return nil, known, false
	}
	if t.dropped > 0 {
		out = appendCutMarker(out, t.dropped)
	}
	out = append(out, t.buf[t.start:]...)
	return append(out, t.buf[:t.start]...), size, true
}

const (
	cutMarkerPrefix = "[jobq: output cut, "
	cutMarkerSuffix = " earlier bytes dropped]\n"
)

// appendCutMarker appends the line that says how many bytes were cut
// before a kept tail.
func appendCutMarker(b []byte, dropped int64) []byte {
	return fmt.Appendf(b, "%s%d%s", cutMarkerPrefix, dropped, cutMarkerSuffix)
}

// SplitOutput takes an attempt's Output apart, knowing its OutputSize:
// the bytes kept, and the offset of the first of them in everything the
// command wrote (the bytes cut before them, which the marker line counts).
// An output whose size is unknown (0) or does not agree is taken as kept
// whole, at the end of what was written.
func SplitOutput(output []byte, size int64) (kept []byte, offset int64) {
	if size <= 0 {
		return output, 0
	}
	if int64(len(output)) != size && bytes.HasPrefix(output, []byte(cutMarkerPrefix)) {
		if line, rest, ok := bytes.Cut(output, []byte{'\n'}); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSuffix(line[len(cutMarkerPrefix):], []byte(cutMarkerSuffix[:len(cutMarkerSuffix)-1]))), 10, 64)
			if err == nil && n > 0 && n+int64(len(rest)) == size {
				return rest, n
			}
		}
	}
	return output, max(0, size-int64(len(output)))
}

// OutputSince returns what a follower that has printed the first seen
// bytes of an attempt's output prints next, given the attempt's Output
// and OutputSize: the new bytes, after a marker line when some of them
// were cut before it could print them. It returns the new seen.
func OutputSince(output []byte, size, seen int64) ([]byte, int64) {
	kept, offset := SplitOutput(output, size)
	end := offset + int64(len(kept))
	switch {
	case end <= seen:
		return nil, seen
	case offset <= seen:
		return kept[seen-offset:], end
	}
	return append(appendCutMarker(nil, offset-seen), kept...), end
}
