package queue

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// validParams is a job that passes Validate, for tests to spoil one field.
func validParams() JobInsertParams {
	return JobInsertParams{
		Queue:       "default",
		State:       StatePending,
		Command:     "echo hi",
		Argv:        ShellArgv("echo hi"),
		Dir:         "/work",
		Env:         []string{"A=1"},
		MaxAttempts: 3,
		Backoff:     10 * time.Second,
		MaxBackoff:  time.Hour,
	}
}

func TestJobInsertParamsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spoil  func(p *JobInsertParams)
		errHas string // empty: valid
	}{
		{"valid", func(p *JobInsertParams) {}, ""},
		{"argv form", func(p *JobInsertParams) { p.Argv, p.Command = []string{"/bin/echo", "a"}, "/bin/echo a" }, ""},
		{"env with empty value", func(p *JobInsertParams) { p.Env = []string{"A="} }, ""},
		{"env value with =", func(p *JobInsertParams) { p.Env = []string{"A=b=c"} }, ""},
		{"unique key at limit", func(p *JobInsertParams) { p.UniqueKey = strings.Repeat("k", 1024) }, ""},
		{"unique key with NUL", func(p *JobInsertParams) { p.UniqueKey = "a\x00b" }, "unique key contains a NUL byte"},
		{"unique key not UTF-8", func(p *JobInsertParams) { p.UniqueKey = "a\xffb" }, "unique key is not valid UTF-8"},
		{"bad queue", func(p *JobInsertParams) { p.Queue = "no spaces" }, "invalid queue name"},
		{"empty queue", func(p *JobInsertParams) { p.Queue = "" }, "invalid queue name"},
		{"no argv", func(p *JobInsertParams) { p.Argv = nil }, "empty command"},
		{"empty program", func(p *JobInsertParams) { p.Argv = []string{""} }, "empty command"},
		{"blank shell command", func(p *JobInsertParams) { p.Command, p.Argv = " \t", ShellArgv(" \t") }, "empty command"},
		{"NUL in argv", func(p *JobInsertParams) { p.Argv = []string{"/bin/echo", "a\x00b"} }, "NUL"},
		{"zero max attempts", func(p *JobInsertParams) { p.MaxAttempts = 0 }, "max attempts"},
		{"negative timeout", func(p *JobInsertParams) { p.Timeout = -time.Second }, "negative"},
		{"negative backoff", func(p *JobInsertParams) { p.Backoff = -time.Second }, "negative"},
		{"negative max backoff", func(p *JobInsertParams) { p.MaxBackoff = -time.Second }, "negative"},
		{"relative dir", func(p *JobInsertParams) { p.Dir = "work" }, "not absolute"},
		{"empty dir", func(p *JobInsertParams) { p.Dir = "" }, "not absolute"},
		{"unique key too long", func(p *JobInsertParams) { p.UniqueKey = strings.Repeat("k", 1025) }, "unique key"},
		{"env without =", func(p *JobInsertParams) { p.Env = []string{"A"} }, "environment"},
		{"env without name", func(p *JobInsertParams) { p.Env = []string{"=1"} }, "environment"},
		{"env with NUL", func(p *JobInsertParams) { p.Env = []string{"A=\x00"} }, "environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := validParams()
			tt.spoil(&p)
			err := p.Validate()
			switch {
			case tt.errHas == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.errHas != "" && err == nil:
				t.Errorf("Validate() = nil, want an error with %q", tt.errHas)
			case tt.errHas != "" && !strings.Contains(err.Error(), tt.errHas):
				t.Errorf("Validate() = %v, want an error with %q", err, tt.errHas)
			}
		})
	}
}

func TestParseBatchLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := validParams()
	def.RunAt, def.CreatedAt = now, now
	tests := []struct {
		name   string
		line   string
		asJSON bool
		want   func(p *JobInsertParams) // applied to def
	}{
		{
			name: "plain line is a shell command",
			line: `echo "a b" | wc -c`,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv = `echo "a b" | wc -c`, ShellArgv(`echo "a b" | wc -c`)
			},
		},
		{
			name: "plain line that looks like JSON is still a command",
			line: `{"command": "x"}`,
			want: func(p *JobInsertParams) { p.Command, p.Argv = `{"command": "x"}`, ShellArgv(`{"command": "x"}`) },
		},
		{
			name:   "JSON command",
			line:   `{"command": "echo hi; exit 3"}`,
			asJSON: true,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv = "echo hi; exit 3", ShellArgv("echo hi; exit 3")
			},
		},
		{
			name:   "JSON argv runs without a shell",
			line:   `{"argv": ["/bin/echo", "a b", "$HOME"]}`,
			asJSON: true,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv = `/bin/echo 'a b' '$HOME'`, []string{"/bin/echo", "a b", "$HOME"}
			},
		},
		{
			name: "JSON with every key",
			line: `{"command": "make", "queue": "builds", "priority": -5, "run_at": "2024-05-01T13:00:00Z",
				"max_attempts": 7, "timeout": "1h30m", "unique_key": "build-42",
				"env": {"B": "2", "A": "9", "C": ""}, "dir": "/srv/app"}`,
			asJSON: true,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv = "make", ShellArgv("make")
				p.Queue, p.Priority = "builds", -5
				p.RunAt, p.State = now.Add(time.Hour), StateScheduled
				p.MaxAttempts, p.Timeout, p.UniqueKey = 7, 90*time.Minute, "build-42"
				p.Env = []string{"A=9", "B=2", "C="}
				p.Dir = "/srv/app"
			},
		},
		{
			name:   "run_at in the past is pending",
			line:   `{"command": "x", "run_at": "2024-05-01 11:00"}`,
			asJSON: true,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv = "x", ShellArgv("x")
				p.RunAt = now.Add(-time.Hour)
			},
		},
		{
			name:   "relative dir is under the default dir",
			line:   `{"command": "x", "dir": "sub/../other"}`,
			asJSON: true,
			want: func(p *JobInsertParams) {
				p.Command, p.Argv, p.Dir = "x", ShellArgv("x"), "/work/other"
			},
		},
		{
			name:   "absent keys keep the defaults",
			line:   ` { "argv" : ["true"] } `,
			asJSON: true,
			want:   func(p *JobInsertParams) { p.Command, p.Argv = "true", []string{"true"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := validParams()
			want.RunAt, want.CreatedAt = now, now
			tt.want(&want)
			got, err := ParseBatchLine([]byte(tt.line), tt.asJSON, def, now)
			if err != nil {
				t.Fatalf("ParseBatchLine(%q) error: %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseBatchLine(%q) =\n%+v\nwant\n%+v", tt.line, got, want)
			}
		})
	}
}

func TestParseBatchLineStateFollowsRunAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := validParams()
	def.RunAt, def.State = now.Add(time.Hour), StateScheduled
	for _, tt := range []struct {
		line   string
		asJSON bool
	}{
		{"echo later", false},
		{`{"command": "echo later"}`, true},
	} {
		got, err := ParseBatchLine([]byte(tt.line), tt.asJSON, def, now)
		if err != nil || got.State != StateScheduled || !got.RunAt.Equal(def.RunAt) {
			t.Errorf("ParseBatchLine(%q) = state %s, run_at %v, %v; want scheduled at %v", tt.line, got.State, got.RunAt, err, def.RunAt)
		}
	}
	def.RunAt, def.State = now, "" // a caller that left State unset
	got, err := ParseBatchLine([]byte("echo now"), false, def, now)
	if err != nil || got.State != StatePending {
		t.Errorf("plain line with run_at now: state %q, %v; want pending", got.State, err)
	}
}

func TestParseBatchLineEnvMerge(t *testing.T) {
	t.Parallel()
	now := time.Now()
	def := validParams()
	def.Env = []string{"A=1", "B=2"}
	got, err := ParseBatchLine([]byte(`{"command": "x", "env": {"B": "two", "C": "3=three"}}`), true, def, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "B=two", "C=3=three"}; !slices.Equal(got.Env, want) {
		t.Errorf("Env = %q, want %q", got.Env, want)
	}
	if want := []string{"A=1", "B=2"}; !slices.Equal(def.Env, want) {
		t.Errorf("the defaults' Env changed to %q", def.Env)
	}
	got, err = ParseBatchLine([]byte("x"), false, def, now)
	if err != nil || !slices.Equal(got.Env, def.Env) {
		t.Errorf("plain line Env = %q, %v; want the defaults %q", got.Env, err, def.Env)
	}
}

func TestParseBatchLineRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := validParams()
	tests := []struct {
		name   string
		line   string
		asJSON bool
		errHas string
	}{
		{"blank plain line", "   ", false, "empty command"},
		{"NUL in plain line", "echo \x00", false, "NUL"},
		{"unknown key", `{"command": "x", "colour": "red"}`, true, "unknown field"},
		{"key not settable per line", `{"command": "x", "backoff": "1s"}`, true, "unknown field"},
		{"command and argv", `{"command": "x", "argv": ["y"]}`, true, "not both"},
		{"neither command nor argv", `{"queue": "q"}`, true, "missing command"},
		{"null", `null`, true, "missing command"},
		{"empty argv", `{"argv": []}`, true, "empty command"},
		{"empty program", `{"argv": [""]}`, true, "empty command"},
		{"empty command", `{"command": ""}`, true, "empty command"},
		{"bad queue", `{"command": "x", "queue": "a b"}`, true, "invalid queue name"},
		{"bad run_at", `{"command": "x", "run_at": "soon"}`, true, "invalid time"},
		{"bad timeout", `{"command": "x", "timeout": "-1s"}`, true, "invalid duration"},
		{"zero max_attempts", `{"command": "x", "max_attempts": 0}`, true, "max attempts"},
		{"priority not a number", `{"command": "x", "priority": "high"}`, true, "invalid JSON"},
		{"env not an object", `{"command": "x", "env": ["A=1"]}`, true, "invalid JSON"},
		{"env name empty", `{"command": "x", "env": {"": "1"}}`, true, "environment"},
		{"env name with =", `{"command": "x", "env": {"A=B": "1"}}`, true, "environment"},
		{"unique_key too long", `{"command": "x", "unique_key": "` + strings.Repeat("k", 1025) + `"}`, true, "unique key"},
		{"not JSON", `echo hi`, true, "invalid JSON"},
		{"truncated", `{"command": "x"`, true, "invalid JSON"},
		{"two objects", `{"command": "x"} {"command": "y"}`, true, "invalid JSON"},
		{"trailing brace", `{"command": "x"}}`, true, "invalid JSON"},
		{"trailing bracket", `{"command": "x"}]`, true, "invalid JSON"},
		{"trailing garbage", `{"command": "x"} x`, true, "invalid JSON"},
		{"array", `[{"command": "x"}]`, true, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseBatchLine([]byte(tt.line), tt.asJSON, def, now)
			if err == nil {
				t.Fatalf("ParseBatchLine(%q) = %+v, want an error", tt.line, got)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ParseBatchLine(%q) error %q, want it to contain %q", tt.line, err, tt.errHas)
			}
		})
	}
}

func TestSetEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  []string
		kv   string
		want []string
	}{
		{nil, "A=1", []string{"A=1"}},
		{[]string{"B=2"}, "A=1", []string{"A=1", "B=2"}},
		{[]string{"A=1", "B=2"}, "A=3", []string{"A=3", "B=2"}},
		{[]string{"AB=1"}, "A=2", []string{"A=2", "AB=1"}}, // a name that is a prefix of another
		{[]string{"A=1"}, "A=", []string{"A="}},
	} {
		got := SetEnv(slices.Clone(tt.env), tt.kv)
		if !slices.Equal(got, tt.want) {
			t.Errorf("SetEnv(%q, %q) = %q, want %q", tt.env, tt.kv, got, tt.want)
		}
	}
}

func TestQuoteArgv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/echo", "hello"}, "/bin/echo hello"},
		{[]string{"ls", "-la", "/tmp/x_y.z"}, "ls -la /tmp/x_y.z"},
		{[]string{"echo", "a b"}, "echo 'a b'"},
		{[]string{"echo", ""}, "echo ''"},
		{[]string{"echo", "it's"}, `echo 'it'\''s'`},
		{[]string{"echo", "$HOME", "*", "~", "a;b", "`x`", "a\nb"}, "echo '$HOME' '*' '~' 'a;b' '`x`' 'a\nb'"},
		{[]string{"env", "A=1", "x"}, "env A=1 x"},
		{[]string{"A=1", "x"}, "'A=1' x"}, // first word would be read as an assignment
		{[]string{"é"}, "'é'"},
		{nil, ""},
	} {
		if got := QuoteArgv(tt.argv); got != tt.want {
			t.Errorf("QuoteArgv(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

// PlainBatchClean's pass finds the lines too long for BatchReader, a
// line's newline counted, as CheckBatch does (the fuzz test cannot make
// lines of a MiB; it pins the NUL bytes).
func TestPlainBatchCleanLongLines(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := validParams()
	def.RunAt, def.CreatedAt = now, now
	cmd := func(n int) string { return "echo " + strings.Repeat("x", n-len("echo ")) }
	many := strings.Repeat("echo a\n", 300_000) // more than MaxBatchLine before the long line
	for _, tc := range []struct {
		name, input string
		clean       bool
	}{
		{"longest line", cmd(MaxBatchLine-1) + "\n", true},
		{"a byte longer", cmd(MaxBatchLine) + "\n", false},
		{"longest last line, no newline", "a\n" + cmd(MaxBatchLine), true},
		{"a byte longer, no newline", "a\n" + cmd(MaxBatchLine+1), false},
		{"longest line after many", many + cmd(MaxBatchLine-1) + "\n" + many, true},
		{"long line after many", many + cmd(MaxBatchLine) + "\n" + many, false},
		{"long line with \\r before its newline", many + cmd(MaxBatchLine-1) + "\r\n", false},
	} {
		err := CheckBatch([]byte(tc.input), false, def, now)
		if clean := PlainBatchClean([]byte(tc.input)); clean != tc.clean || (err == nil) != tc.clean {
			t.Errorf("%s: PlainBatchClean = %v, CheckBatch = %v; want clean %v", tc.name, clean, err, tc.clean)
		}
	}
}
