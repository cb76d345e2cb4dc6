package bench

import (
	"testing"
	"time"
)

// TestMedian checks the statistics every ratio in the suite rests on; it is
// the only test here, and quick, so that `go test ./...` stays quick.
func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		ds := make([]time.Duration, len(v))
		for i, x := range v {
			ds[i] = time.Duration(x) * time.Millisecond
		}
		return ds
	}
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := quantile(ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 0.9); got != 10*time.Millisecond {
		t.Errorf("p90 = %v, want 10ms", got)
	}
}
