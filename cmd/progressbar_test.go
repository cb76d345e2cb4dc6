package cmd

import (
	"strings"
	"testing"
)

// On a terminal, drain shows the jobs done out of those ready, and the
// failures; the log lines still arrive.
func TestDrainProgressOnTerminal(t *testing.T) {
	for _, terminal := range []bool{true, false} {
		t.Run(map[bool]string{true: "terminal", false: "pipe"}[terminal], func(t *testing.T) { testDrainProgress(t, terminal) })
	}
}

func testDrainProgress(t *testing.T, terminal bool) {
	{
		e := setup(t)
		e.f.IO.ErrTerminal = terminal
		for _, c := range []string{"true", "true", "exit 3"} {
			if code := e.run("enqueue", "--max-attempts", "1", c); code != 0 {
				t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
			}
		}
		if code := e.run("drain", "-c", "2"); code != 1 {
			t.Fatalf("drain: exit %d, want 1 (a job went dead): %s", code, e.stderr)
		}
		stderr := e.stderr.String()
		if !strings.Contains(stderr, `msg="job finished" job=3`) {
			t.Errorf("terminal %v: the log lines are missing: %q", terminal, stderr)
		}
		if got := strings.Contains(stderr, "3/3 done, 1 failed"); got != terminal {
			t.Errorf("terminal %v: progress shown %v: %q", terminal, got, stderr)
		}
	}
}

// On a terminal, a large batch shows the lines read; a small one, or any
// batch when stderr is not a terminal, writes nothing on stderr.
func TestBatchProgressOnTerminal(t *testing.T) {
	big := strings.Repeat("true\n", batchProgressLines+1)
	for _, tt := range []struct {
		terminal bool
		input    string
		want     string
	}{
		{true, big, "10001 lines read"},
		{false, big, ""},
		{true, "true\ntrue\n", ""},
	} {
		t.Run("", func(t *testing.T) {
			e := setup(t)
			e.f.IO.ErrTerminal = tt.terminal
			e.f.IO.In = strings.NewReader(tt.input)
			if code := e.run("enqueue", "--batch"); code != 0 {
				t.Fatalf("enqueue --batch: exit %d: %s", code, e.stderr)
			}
			if n := strings.Count(e.stdout.String(), "\n"); n != strings.Count(tt.input, "\n") {
				t.Errorf("%d IDs printed; want one per line", n)
			}
			stderr := e.stderr.String()
			if tt.want == "" && stderr != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("terminal %v, %d lines: stderr %q; want %q", tt.terminal, strings.Count(tt.input, "\n"), stderr, tt.want)
			}
		})
	}
}
