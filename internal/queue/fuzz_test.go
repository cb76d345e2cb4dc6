package queue

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz tests run their seed corpus under plain `go test`; explore with
// e.g. go test -fuzz=FuzzParseDuration ./internal/queue

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"90s", "15m", "1h30m", "2d", "1w", "1d12h", "0", "0s", "1.5d", ".5h", "500ms", "1µs",
		"", "90", "-5m", "+5m", "1d-2h", "106752d", "15250w2d", "2562047h47m16.854775807s",
		"9223372036854775807ns", "1e3s", "1..5h", "\xff", "1d\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with error %v", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Errorf("ParseDuration(%q) = %v, negative", s, d)
		}
		if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") || !utf8.ValidString(s) {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, d)
		}
		// Without d and w it must agree with Go's own parser.
		if !strings.ContainsAny(s, "dw") {
			if want, err := time.ParseDuration(s); err != nil || want != d {
				t.Errorf("ParseDuration(%q) = %v; time.ParseDuration = %v, %v", s, d, want, err)
			}
		}
		// What it accepts it reads back the same from Go's rendering.
		if again, err := ParseDuration(d.String()); err != nil || again != d {
			t.Errorf("ParseDuration(%q) = %v, but ParseDuration(%q) = %v, %v", s, d, d.String(), again, err)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+05:30", "2024-05-01 12:00",
		"2024-05-01 12:00:30", "11:00", "10:30", "00:00", "23:59", "24:00", "1:30",
		"", "now", "2024-02-30 00:00", "99:99", "12:00:00",
	} {
		f.Add(s, int64(1710059415)) // 2024-03-10 08:30:15 UTC
	}
	loc := time.FixedZone("UTC+2", 2*60*60)
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		now := time.Unix(unix%(1<<40), 0).In(loc) // years around now, not at the edges of time
		got, err := ParseTime(s, now)
		if err != nil {
			if !got.IsZero() {
				t.Errorf("ParseTime(%q) = %v with error %v", s, got, err)
			}
			return
		}
		if got.IsZero() {
			t.Errorf("ParseTime(%q) = the zero time without an error", s)
		}
		if len(s) == 5 && s[2] == ':' {
			// HH:MM: the next time the clock shows it, within a day.
			if !got.After(now) || got.Sub(now) > 25*time.Hour {
				t.Errorf("ParseTime(%q, %v) = %v, not within the next day", s, now, got)
			}
			if got.In(loc).Format("15:04") != s {
				t.Errorf("ParseTime(%q, %v) = %v, clock shows %s", s, now, got, got.In(loc).Format("15:04"))
			}
		}
	})
}

func FuzzParsePast(f *testing.F) {
	for _, s := range []string{
		"2h", "1d", "90s", "0", "08:00", "08:31", "00:00", "23:59", "2024-03-01 12:00",
		"2024-03-01T12:00:00Z", "", "-1h", "24:00", "8:00", "now", "1w2d",
	} {
		f.Add(s, int64(1710059415)) // 2024-03-10 08:30:15 UTC
	}
	loc := time.FixedZone("UTC+2", 2*60*60)
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		now := time.Unix(unix%(1<<40), 0).In(loc)
		got, err := ParsePast(s, now)
		if err != nil {
			if !got.IsZero() {
				t.Errorf("ParsePast(%q) = %v with error %v", s, got, err)
			}
			return
		}
		if d, derr := ParseDuration(s); derr == nil && !got.Equal(now.Add(-d)) {
			t.Errorf("ParsePast(%q, %v) = %v, want %v ago", s, now, got, d)
		}
		if len(s) == 5 && s[2] == ':' {
			// HH:MM: the last time the clock showed it, within a day.
			if got.After(now) || now.Sub(got) > 25*time.Hour {
				t.Errorf("ParsePast(%q, %v) = %v, not within the last day", s, now, got)
			}
			if got.In(loc).Format("15:04") != s {
				t.Errorf("ParsePast(%q, %v) = %v, clock shows %s", s, now, got, got.In(loc).Format("15:04"))
			}
		}
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{
		"0", "40", "62.5", "100", "100%", "40%", ".5", "5.", "100.0", "", "%", "101", "-1",
		"1e2", "NaN", "Inf", "0x1p2", "1_0", "50 %", "1.2.3", "99999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePercent(s)
		if err != nil {
			if p != 0 {
				t.Errorf("ParsePercent(%q) = %v with error %v", s, p, err)
			}
			return
		}
		if !(p >= 0 && p <= 100) {
			t.Errorf("ParsePercent(%q) = %v, not from 0 to 100", s, p)
		}
		if strings.TrimLeft(strings.TrimSuffix(s, "%"), "0123456789.") != "" {
			t.Errorf("ParsePercent(%q) = %v: accepted more than digits, a dot and a %% sign", s, p)
		}
		if again, err := ParsePercent(strconv.FormatFloat(p, 'f', -1, 64)); err != nil || again != p {
			t.Errorf("ParsePercent(%q) = %v, but reading it back gives %v, %v", s, p, again, err)
		}
	})
}

func FuzzValidateQueue(f *testing.F) {
	for _, s := range []string{"default", "a", "a_b.c:d-e", strings.Repeat("q", 64), strings.Repeat("q", 65), "", "_a", "a b", "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateQueue(s)
		ok := len(s) >= 1 && len(s) <= 64 && isAlnum(s[0])
		for i := 1; ok && i < len(s); i++ {
			ok = isAlnum(s[i]) || strings.IndexByte("_.:-", s[i]) >= 0
		}
		if (err == nil) != ok {
			t.Errorf("ValidateQueue(%q) = %v, want valid = %v", s, err, ok)
		}
	})
}

// FuzzValidateText: text is refused exactly when PostgreSQL's text could
// not hold it (a NUL byte, invalid UTF-8), in one line naming the field.
func FuzzValidateText(f *testing.F) {
	for _, s := range []string{"", "build-42", "é", "a\x00b", "\xff", "a\nb", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateText("unique key", s)
		ok := utf8.ValidString(s) && !strings.ContainsRune(s, 0)
		if (err == nil) != ok {
			t.Errorf("ValidateText(%q) = %v, want valid = %v", s, err, ok)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "the unique key ") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("ValidateText(%q) = %q, want one line naming the unique key", s, err)
		}
	})
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func FuzzParseExitCodes(f *testing.F) {
	for _, s := range []string{"", "3", "3,64-78", "1-255", "255", "0", "256", "5-3", "03", "+3", "3,", "1-2-3", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		codes, err := ParseExitCodes(s)
		if err != nil {
			return
		}
		if s == "" && codes != nil {
			t.Errorf("ParseExitCodes(\"\") = %v, want nil", codes)
		}
		for _, c := range codes {
			if c < 1 || c > 255 {
				t.Fatalf("ParseExitCodes(%q) gave code %d, outside 1..255", s, c)
			}
		}
		text := FormatExitCodes(codes)
		back, err := ParseExitCodes(text)
		if err != nil || !slices.Equal(back, codes) {
			t.Errorf("ParseExitCodes(%q) = %v, formatted %q, parsed back as %v, %v", s, codes, text, back, err)
		}
	})
}

func FuzzParseStates(f *testing.F) {
	for _, s := range []string{"pending", "dead,cancelled", "", ",", "Pending", "pending,", "bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		states, err := ParseStates(s)
		if err != nil {
			if states != nil {
				t.Errorf("ParseStates(%q) = %v with error %v", s, states, err)
			}
			return
		}
		if len(states) == 0 {
			t.Errorf("ParseStates(%q) = no states and no error", s)
		}
		names := make([]string, len(states))
		for i, st := range states {
			if !st.Valid() {
				t.Errorf("ParseStates(%q) gave invalid state %q", s, st)
			}
			names[i] = string(st)
		}
		if strings.Join(names, ",") != s {
			t.Errorf("ParseStates(%q) = %v, which does not spell the input", s, states)
		}
	})
}

func FuzzParseBatchLine(f *testing.F) {
	for _, s := range []struct {
		line   string
		asJSON bool
	}{
		{"echo hi", false},
		{"", false},
		{"  ", false},
		{"echo \x00", false},
		{`{"command": "echo hi"}`, true},
		{`{"argv": ["/bin/echo", "a b"]}`, true},
		{`{"command": "make", "queue": "builds", "priority": -5, "run_at": "2024-05-01T13:00:00Z", "max_attempts": 7, "timeout": "1h30m", "unique_key": "k", "env": {"A": "1"}, "dir": "sub"}`, true},
		{`{"command": "x", "run_at": "10:30"}`, true},
		{`{"command": "x", "dir": "/abs"}`, true},
		{`{"command": "x", "env": {"A=B": "1"}}`, true},
		{`{"command": "x", "argv": ["y"]}`, true},
		{`{"command": "x"}}`, true},
		{`{"colour": "red"}`, true},
		{`null`, true},
		{`{"argv": []}`, true},
	} {
		f.Add([]byte(s.line), s.asJSON)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := JobInsertParams{
		Queue: "default", State: StatePending, RunAt: now, CreatedAt: now, Dir: "/work",
		Env: []string{"A=1", "B=2"}, MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Hour,
	}
	f.Fuzz(func(t *testing.T, line []byte, asJSON bool) {
		p, err := ParseBatchLine(line, asJSON, def, now)
		if !slices.Equal(def.Env, []string{"A=1", "B=2"}) {
			t.Fatalf("ParseBatchLine(%q) changed the defaults' Env to %q", line, def.Env)
		}
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Errorf("ParseBatchLine(%q) = %+v, which Validate refuses: %v", line, p, err)
		}
		if want := NewJobState(p.RunAt, now); p.State != want {
			t.Errorf("ParseBatchLine(%q): state %s, run_at %v; want %s", line, p.State, p.RunAt, want)
		}
		if !slices.IsSorted(p.Env) {
			t.Errorf("ParseBatchLine(%q): env %q not sorted", line, p.Env)
		}
		if !asJSON {
			if p.Command != string(line) || !slices.Equal(p.Argv, ShellArgv(string(line))) {
				t.Errorf("ParseBatchLine(%q) plain = command %q argv %q", line, p.Command, p.Argv)
			}
			return
		}
		if slices.Equal(p.Argv[:min(2, len(p.Argv))], []string{"/bin/sh", "-c"}) && len(p.Argv) == 3 {
			if p.Command != p.Argv[2] {
				t.Errorf("ParseBatchLine(%q): shell command %q but argv %q", line, p.Command, p.Argv)
			}
		} else if p.Command != QuoteArgv(p.Argv) {
			t.Errorf("ParseBatchLine(%q): command %q is not argv %q quoted", line, p.Command, p.Argv)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10/m", "5/s", "100/1h", "1/2d", "0/m", "x/m", "10/", "/m", "10/0s", "-1/m", "10/-1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, period, err := ParseRate(s)
		if err != nil {
			return
		}
		if n < 1 || period < time.Millisecond {
			t.Errorf("ParseRate(%q) = %d/%v: want at least 1 per at least 1ms", s, n, period)
		}
	})
}

func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1", "3,4", "0", "-1", "1,,2", "a", "9223372036854775807", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s)
		if err != nil {
			return
		}
		if len(ids) != strings.Count(s, ",")+1 {
			t.Errorf("ParseIDs(%q) = %v: one ID per comma-separated part", s, ids)
		}
		for _, id := range ids {
			if id < 1 {
				t.Errorf("ParseIDs(%q) gave ID %d", s, id)
			}
		}
	})
}

// FuzzOutputSince: whatever a job prints (its first line may look like
// jobq's marker) and whatever the store says, a follower neither panics
// nor goes back; and a consistent flush it has not fully seen ends with
// the last byte kept.
func FuzzOutputSince(f *testing.F) {
	f.Add([]byte("abc"), int64(3), int64(0))
	f.Add([]byte("[jobq: output cut, 10 earlier bytes dropped]\nabc"), int64(13), int64(2))
	f.Add([]byte("[jobq: output cut, -5 earlier bytes dropped]\nabcdefgh"), int64(3), int64(0))
	f.Fuzz(func(t *testing.T, output []byte, size, seen int64) {
		if seen < 0 {
			seen = -seen
		}
		b, n := OutputSince(output, size, seen)
		if n < seen {
			t.Fatalf("OutputSince(%q, %d, %d) went back to %d", output, size, seen, n)
		}
		if n > seen && len(output) > 0 && len(b) > 0 && b[len(b)-1] != output[len(output)-1] {
			t.Fatalf("OutputSince(%q, %d, %d) = %q: does not end with the last byte", output, size, seen, b)
		}
	})
}

// BatchReader reads many lines as ParseBatchLine reads each: the same
// jobs, or the same error on the same line, whether they are taken by Next
// or by All after a first Next (as jobq enqueue --batch takes them). Lines are split at "\n" of the
// input, so that a value cut across lines, blank lines of Unicode space
// and "\r\n" endings meet the reader that runs through the input.
func FuzzBatchReader(f *testing.F) {
	for _, s := range []struct {
		input  string
		asJSON bool
	}{
		{"echo a\necho b\n", false},
		{"echo a\r\n\n  \necho b", false},
		{"echo a\necho \x00b\necho c\n", false},
		{"\x00\n", false},
		{`{"command": "a"}` + "\n" + `{"argv": ["/bin/echo", "b"]}` + "\n", true},
		{`{"command": "a"}` + "\n\v\n" + `{"command": "b"}`, true},
		{`{"command":` + "\n" + `"a"}`, true},
		{`{"command": "a"} {"command": "b"}` + "\n", true},
		{`{"command": "a"}` + "\r\n" + `  {"command": "b", "env": {"A": "1"}}  ` + "\n", true},
		{`{"command": "a"` + "\n" + `{"command": "b"}`, true},
		{`{"command": "a", "colour": "red"}` + "\n", true},
		{"1\n2\n", true},
		{"null\n", true},
		{`{"command": "a"}` + "\n\u00a0\n" + `{"command": "b"}`, true},
		// What quickLine reads, and what it leaves to encoding/json.
		{`{"command":"echo \"a\" \\ \/ \t é","queue":"q","priority":-12,"max_attempts":3}` + "\n" +
			`{ "argv" : [ "/bin/echo" , "" ], "env": {"A": "1", "B": ""}, "dir": "sub", "unique_key": "k", "run_at": "2024-05-02T00:00:00Z", "timeout": "1m" }`, true},
		{`{"command":"a","command":"b"}` + "\n" + `{"Command":"a"}` + "\n" + `{"command":"\u00e9"}`, true},
		{`{"command":"a","priority":-0}` + "\n" + `{"command":"a","priority":012}` + "\n" + `{"command":"a","priority":1e2}`, true},
		{`{"command":"a","priority":1234567890}` + "\n" + `{"command":null}` + "\n" + `{"argv":[]}` + "\n" + `{"command":"a","env":{}}`, true},
		{`{"command":"a","env":{"A":"1","A":"2"}}` + "\n" + "{\"command\":\"\xff\"}" + "\n" + `{"command":"a"}x`, true},
		{`{}` + "\n" + `{"command":"a",}` + "\n" + `{"command":"a\x"}` + "\n" + `{"": "a"}`, true},
	} {
		f.Add([]byte(s.input), s.asJSON)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := JobInsertParams{
		Queue: "default", State: StatePending, RunAt: now, CreatedAt: now, Dir: "/work",
		Env: []string{"A=1", "B=2"}, MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Hour,
	}
	f.Fuzz(func(t *testing.T, input []byte, asJSON bool) {
		var got []JobInsertParams
		var gotErr error
		r := NewBatchReader(input, asJSON, def, now)
		switch p, err := r.Next(); err {
		case nil:
			got = append(got, p)
			for p, err := range r.All() {
				if err != nil {
					gotErr = err
					break
				}
				got = append(got, p)
			}
		case io.EOF:
		default:
			gotErr = err
		}
		if _, err := r.Next(); err != io.EOF && fmt.Sprint(err) != fmt.Sprint(gotErr) {
			t.Fatalf("BatchReader(%q): Next after the end = %v, want %v again", input, err, gotErr)
		}
		var want []JobInsertParams
		var wantErr error
		for n, line := range strings.SplitAfter(string(input), "\n") {
			if len(line) > MaxBatchLine {
				wantErr = &BatchLineError{n + 1, fmt.Errorf("longer than %d bytes", MaxBatchLine)}
				break
			}
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			p, err := ParseBatchLine([]byte(line), asJSON, def, now)
			if err != nil {
				wantErr = &BatchLineError{n + 1, err}
				break
			}
			want = append(want, p)
		}
		switch {
		case wantErr != nil || gotErr != nil:
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("BatchReader(%q) error %v; line by line %v", input, gotErr, wantErr)
			}
		case !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0):
			t.Fatalf("BatchReader(%q) =\n%+v\nline by line\n%+v", input, got, want)
		}
		if !slices.Equal(def.Env, []string{"A=1", "B=2"}) {
			t.Fatalf("BatchReader(%q) changed the defaults' Env to %q", input, def.Env)
		}
		// CheckBatch finds what the reader does; for plain input, so
		// does the cheap pass, which enqueue trusts instead.
		if err := CheckBatch(input, asJSON, def, now); fmt.Sprint(err) != fmt.Sprint(gotErr) {
			t.Fatalf("CheckBatch(%q) = %v; BatchReader %v", input, err, gotErr)
		}
		if clean := PlainBatchClean(input); !asJSON && clean != (gotErr == nil) {
			t.Fatalf("PlainBatchClean(%q) = %v; BatchReader %v", input, clean, gotErr)
		}
	})
}
