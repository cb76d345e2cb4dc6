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
