package queue

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func marker(dropped int) string {
	return fmt.Sprintf("[jobq: output cut, %d earlier bytes dropped]\n", dropped)
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{"nothing written", 10, nil, ""},
		{"under the limit", 10, []string{"abc", "de"}, "abcde"},
		{"exactly the limit", 5, []string{"abcde"}, "abcde"},
		{"exactly the limit in pieces", 5, []string{"ab", "cde"}, "abcde"},
		{"one byte over", 5, []string{"abcdef"}, marker(1) + "bcdef"},
		{"one huge write", 4, []string{strings.Repeat("x", 1000) + "tail"}, marker(1000) + "tail"},
		{"huge write after some", 4, []string{"ab", "0123456789"}, marker(8) + "6789"},
		{"huge write into a wrapped ring", 4, []string{"abcdef", "0123456789"}, marker(12) + "6789"},
		{"small writes wrap the ring", 5, []string{"abc", "def", "ghi", "j"}, marker(5) + "fghij"},
		{"wrap across the end of the ring", 4, []string{"abcd", "ef", "ghi"}, marker(5) + "fghi"},
		{"empty writes change nothing", 3, []string{"", "ab", "", "c", ""}, "abc"},
		{"limit 0 keeps nothing", 0, []string{"abc", "de"}, marker(5)},
		{"limit 0 and no output", 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newTailBuffer(tt.limit)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := string(b.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTailBufferManyWrites compares the ring with the plain tail of
// everything written, over writes of every size around the limit.
func TestTailBufferManyWrites(t *testing.T) {
	t.Parallel()
	const limit = 7
	for size := 1; size <= 2*limit+1; size++ {
		b := newTailBuffer(limit)
		var all []byte
		for i := 0; i < 50; i++ {
			w := bytes.Repeat([]byte{byte('a' + i%26)}, size)
			w[0] = byte('A' + i%26)
			b.Write(w)
			all = append(all, w...)
		}
		want := marker(len(all)-limit) + string(all[len(all)-limit:])
		if got := string(b.Bytes()); got != want {
			t.Errorf("writes of %d bytes: Bytes() = %q, want %q", size, got, want)
		}
	}
}

// TestTailBufferConcurrent checks that stdout and stderr writing at once
// lose no byte count; run with -race.
func TestTailBufferConcurrent(t *testing.T) {
	t.Parallel()
	b := newTailBuffer(100)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				b.Write([]byte("0123456789"))
			}
		})
	}
	wg.Wait()
	if got, want := string(b.Bytes()), marker(40000-100)+strings.Repeat("0123456789", 10); got != want {
		t.Errorf("Bytes() = %q, want %q", got, want)
	}
}

func TestLastLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150) // 300 bytes
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"\n\n  \n", ""},
		{"one\ntwo\n", "two"},
		{"sending\n535 5.7.8 Authentication credentials invalid\r\n\n  \n", "535 5.7.8 Authentication credentials invalid"},
		{"no newline at the end", "no newline at the end"},
		{"  indented  \n", "indented"},
		{long + "\n", strings.Repeat("é", 100)},
		{"x" + long, "x" + strings.Repeat("é", 99)}, // cut before a split character
	} {
		if got := LastLine([]byte(tt.in)); got != tt.want {
			t.Errorf("LastLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A follower that looks at the flushed output now and then prints every
// byte once, in order, and a marker counting exactly the bytes the ring
// buffer dropped before it could print them.
func TestOutputSince(t *testing.T) {
	t.Parallel()
	var stream strings.Builder
	for i := range 200 {
		fmt.Fprintf(&stream, "line %d\n", i)
	}
	data := stream.String()
	for _, limit := range []int{1 << 20, 64, 7} {
		for _, every := range []int{1, 3, 40} {
			t.Run(fmt.Sprintf("limit %d, look every %d writes", limit, every), func(t *testing.T) {
				tb := newTailBuffer(limit)
				var got bytes.Buffer
				var seen, known int64 = 0, -1
				look := func() {
					out, size, changed := tb.Snapshot(known)
					if !changed {
						return
					}
					known = size
					b, n := OutputSince(out, size, seen)
					got.Write(b)
					seen = n
				}
				for i, line := range strings.SplitAfter(data, "\n") {
					tb.Write([]byte(line))
					if i%every == 0 {
						look()
					}
				}
				look()
				if seen != int64(len(data)) {
					t.Errorf("seen %d bytes; want %d", seen, len(data))
				}
				// Undo the markers: each stands for as many bytes of the stream.
				var rebuilt strings.Builder
				rest := got.String()
				for {
					i := strings.Index(rest, "[jobq: output cut, ")
					if i < 0 {
						rebuilt.WriteString(rest)
						break
					}
					rebuilt.WriteString(rest[:i])
					var n int
					fmt.Sscanf(rest[i:], "[jobq: output cut, %d earlier bytes dropped]", &n)
					rebuilt.WriteString(data[rebuilt.Len() : rebuilt.Len()+n])
					rest = rest[i+strings.Index(rest[i:], "\n")+1:]
				}
				if rebuilt.String() != data {
					t.Errorf("followed output, markers undone, differs from what was written:\n%q", got.String())
				}
				if limit > len(data) && got.String() != data {
					t.Errorf("nothing dropped, yet the followed output differs")
				}
			})
		}
	}
}

func TestSplitOutput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		output     string
		size       int64
		kept       string
		wantOffset int64
	}{
		{"abc", 3, "abc", 0},
		{"abc", 0, "abc", 0}, // size unknown
		{marker(10) + "abc", 13, "abc", 10},
		{marker(10) + "abc", 99, marker(10) + "abc", 99 - int64(len(marker(10))+3)}, // disagrees: kept whole
		{"[jobq: output cut, by the job itself\nabc", 500, "[jobq: output cut, by the job itself\nabc", 500 - 40},
	} {
		kept, offset := SplitOutput([]byte(tt.output), tt.size)
		if string(kept) != tt.kept || offset != tt.wantOffset {
			t.Errorf("SplitOutput(%q, %d) = %q, %d; want %q, %d", tt.output, tt.size, kept, offset, tt.kept, tt.wantOffset)
		}
	}
}
