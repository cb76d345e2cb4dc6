package queue

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"15m", 15 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"2d", 48 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1w1d", 8 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"500ms", 500 * time.Millisecond},
		{"1h0m0s", time.Hour},
		{"0", 0},
		{"0s", 0},
		{"0d", 0},
		{"15250w", 15250 * 7 * 24 * time.Hour},
		{"2562047h47m16.854775807s", maxDuration},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurationRefused(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "90", "1.5", "-5m", "-0", "+5m", "5x", "d", "w", "1dd", "1 d", " 1d", "1d ",
		"1d-2h", "1e3s", ".d", "1..5h", "s", "00", "0x10s", "\xff", "1h\x00",
		"106752d",                   // one day past the longest Duration
		"15251w",                    // one week past it
		"15250w2d",                  // each part fits, the sum does not
		"2562047h47m16.854775808s",  // one nanosecond too long
		"99999999999999999999999ns", // beyond int64 in Go's own parser
	} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("ParseDuration(%q) error %q does not say what is wrong", in, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("UTC+2", 2*60*60)
	now := time.Date(2024, 3, 10, 10, 30, 15, 0, loc)
	tests := []struct {
		in   string
		now  time.Time
		want time.Time
	}{
		{"2024-05-01T12:00:00Z", now, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
		{"2024-05-01T12:00:00.123+05:30", now, time.Date(2024, 5, 1, 6, 30, 0, 123e6, time.UTC)},
		{"2020-01-01T00:00:00Z", now, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, // the past is allowed
		{"2024-05-01 12:00", now, time.Date(2024, 5, 1, 12, 0, 0, 0, loc)},
		{"2024-05-01 12:00:30", now, time.Date(2024, 5, 1, 12, 0, 30, 0, loc)},
		{"11:00", now, time.Date(2024, 3, 10, 11, 0, 0, 0, loc)},
		{"10:31", now, time.Date(2024, 3, 10, 10, 31, 0, 0, loc)},
		{"23:59", now, time.Date(2024, 3, 10, 23, 59, 0, 0, loc)},
		{"10:30", now, time.Date(2024, 3, 11, 10, 30, 0, 0, loc)}, // earlier this minute: tomorrow
		{"09:00", now, time.Date(2024, 3, 11, 9, 0, 0, 0, loc)},
		{"00:00", now, time.Date(2024, 3, 11, 0, 0, 0, 0, loc)},
		{"10:30", time.Date(2024, 3, 10, 10, 30, 0, 0, loc), time.Date(2024, 3, 11, 10, 30, 0, 0, loc)}, // now exactly: next
		{"01:00", time.Date(2024, 2, 29, 23, 0, 0, 0, loc), time.Date(2024, 3, 1, 1, 0, 0, 0, loc)},
		{"01:00", time.Date(2024, 12, 31, 23, 0, 0, 0, loc), time.Date(2025, 1, 1, 1, 0, 0, 0, loc)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTime(tt.in, tt.now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseTime(%q, %v) = %v, %v; want %v", tt.in, tt.now, got, err, tt.want)
			}
		})
	}
}

func TestParseTimeRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 10, 10, 30, 0, 0, time.UTC)
	for _, in := range []string{
		"", "now", "tomorrow", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01 12",
		"2024-13-01 00:00", "2024-02-30 00:00", "25:00", "24:00",
		"12:60", "1:30", "1:300", "12:00:00", "12h30", "-1:00", " 1:30", "12:3x",
	} {
		if got, err := ParseTime(in, now); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid time") {
			t.Errorf("ParseTime(%q) error %q does not say what is wrong", in, err)
		}
	}
}

func TestValidateQueue(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"default", "a", "Z", "0", "emails", "a_b.c:d-e", "9-lives", strings.Repeat("q", 64),
	} {
		if err := ValidateQueue(name); err != nil {
			t.Errorf("ValidateQueue(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{
		"", "_a", "-a", ".a", ":a", "a b", "a/b", "a\n", "a\x00", "é", "a,b", "a*",
		strings.Repeat("q", 65),
	} {
		if err := ValidateQueue(name); err == nil {
			t.Errorf("ValidateQueue(%q) = nil, want an error", name)
		}
	}
}

func TestParseExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []int
	}{
		{"", nil},
		{"3", []int{3}},
		{"1", []int{1}},
		{"255", []int{255}},
		{"3,64-66", []int{3, 64, 65, 66}},
		{"7-7", []int{7}},
		{"64-66,3", []int{64, 65, 66, 3}},
	}
	for _, tt := range tests {
		got, err := ParseExitCodes(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseExitCodes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	all, err := ParseExitCodes("1-255")
	if err != nil || len(all) != 255 || all[0] != 1 || all[254] != 255 {
		t.Errorf("ParseExitCodes(1-255) = %d codes, %v", len(all), err)
	}
	for _, in := range []string{
		"0", "256", "-1", "3,", ",3", ",", "5-3", "03", "+3", "a", "1-2-3", " 3", "3 ", "1-", "-", "0-3", "250-256",
	} {
		if got, err := ParseExitCodes(in); err == nil {
			t.Errorf("ParseExitCodes(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatExitCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{3}, "3"},
		{[]int{3, 64, 65}, "3,64,65"},
	} {
		got := FormatExitCodes(tt.in)
		if got != tt.want {
			t.Errorf("FormatExitCodes(%v) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseExitCodes(got)
		if err != nil || !slices.Equal(back, tt.in) {
			t.Errorf("ParseExitCodes(FormatExitCodes(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestParseStates(t *testing.T) {
	t.Parallel()
	got, err := ParseStates("pending")
	if err != nil || !slices.Equal(got, []State{StatePending}) {
		t.Errorf("ParseStates(pending) = %v, %v", got, err)
	}
	got, err = ParseStates("dead,cancelled")
	if err != nil || !slices.Equal(got, []State{StateDead, StateCancelled}) {
		t.Errorf("ParseStates(dead,cancelled) = %v, %v", got, err)
	}
	all := joinStates(States)
	got, err = ParseStates(strings.ReplaceAll(all, ", ", ","))
	if err != nil || !slices.Equal(got, States) {
		t.Errorf("ParseStates(every state) = %v, %v", got, err)
	}
	for _, in := range []string{"", "Pending", "pending,", ",pending", "bogus", "pending, dead", "done"} {
		got, err := ParseStates(in)
		if err == nil {
			t.Errorf("ParseStates(%q) = %v, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), "pending, scheduled") {
			t.Errorf("ParseStates(%q) error %q does not list the states", in, err)
		}
	}
}
