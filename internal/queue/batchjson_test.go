package queue

import "testing"

// quickLine takes the plain lines a large --json batch is made of (or
// it saves nothing) and leaves the rest to encoding/json; FuzzBatchReader
// checks that what it takes, it reads as encoding/json does.
func TestQuickLineTakes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		line string
		ok   bool
	}{
		{`{"command":"true"}`, true},
		{` { "command" : "echo \"a\" \\ \/ \t é" , "queue": "q", "priority": -12 } `, true},
		{`{"argv": ["/bin/echo", ""], "env": {"A": "1"}, "max_attempts": 3, "dir": "d", "unique_key": "k", "run_at": "10:00", "timeout": "1m"}`, true},
		{`{}`, true},
		{`{"argv": [], "env": {}}`, true},
		{`{"Command":"true"}`, false},
		{`{"command":"true","command":"x"}`, false},
		{`{"command":"\u00e9"}`, false},
		{`{"command":null}`, false},
		{`{"command":"a","priority":1.5}`, false},
		{`{"command":"a","priority":1234567890}`, false},
		{`{"command":"a","priority":-0}`, false},
		{`{"command":"a","env":{"A":"1","A":"2"}}`, false},
		{"{\"command\":\"\xff\"}", false},
		{`{"command":"a"} {"command":"b"}`, false},
		{`{"command":"a",}`, false},
		{`{"colour":"red"}`, false},
	} {
		b, ok := quickLine(tt.line)
		if ok != tt.ok {
			t.Errorf("quickLine(%q) ok = %v, want %v", tt.line, ok, tt.ok)
		}
		if ok && tt.line == `{"command":"true"}` && (b.Command == nil || *b.Command != "true") {
			t.Errorf("quickLine(%q) = %+v", tt.line, b)
		}
	}
}
