package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Validate checks a job before it is inserted, so that a bad job is refused
// with a clear error and nothing written.
func (p *JobInsertParams) Validate() error {
	if err := ValidateQueue(p.Queue); err != nil {
		return err
	}
	switch {
	case len(p.Argv) == 0 || p.Argv[0] == "" || strings.TrimSpace(p.Command) == "":
		return errors.New("empty command")
	case slices.ContainsFunc(p.Argv, func(a string) bool { return strings.IndexByte(a, 0) >= 0 }):
		return errors.New("command contains a NUL byte")
	case p.MaxAttempts < 1:
		return fmt.Errorf("invalid max attempts %d (at least 1)", p.MaxAttempts)
	case p.Timeout < 0 || p.Backoff < 0 || p.MaxBackoff < 0:
		return errors.New("durations must not be negative")
	case !filepath.IsAbs(p.Dir):
		return fmt.Errorf("working directory %q is not absolute", p.Dir)
	case len(p.UniqueKey) > 1024:
		return errors.New("unique key longer than 1024 bytes")
	}
	if err := ValidateText("unique key", p.UniqueKey); err != nil {
		return err
	}
	for _, kv := range p.Env {
		if err := validateEnv(kv); err != nil {
			return err
		}
	}
	return nil
}

func validateEnv(kv string) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok || k == "" || strings.ContainsRune(kv, 0) {
		return fmt.Errorf("invalid environment variable %q (use K=V)", kv)
	}
	return nil
}

// batchLine is one line of `enqueue --batch --json`: the keys of the job
// record a line may set. Absent keys keep the defaults given by flags.
type batchLine struct {
	Command     *string           `json:"command"`
	Argv        []string          `json:"argv"`
	Queue       *string           `json:"queue"`
	Priority    *int              `json:"priority"`
	RunAt       *string           `json:"run_at"`
	MaxAttempts *int              `json:"max_attempts"`
	Timeout     *string           `json:"timeout"`
	UniqueKey   *string           `json:"unique_key"`
	Env         map[string]string `json:"env"`
	Dir         *string           `json:"dir"`
}

// MaxBatchLine bounds one line of batch input, its newline included.
const MaxBatchLine = 1 << 20

// BatchLineError is a bad line of batch input, numbered from 1.
type BatchLineError struct {
	Line int
	Err  error
}

func (e *BatchLineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *BatchLineError) Unwrap() error { return e.Err }

// BatchReader reads `enqueue --batch` input, one job per line that is
// not blank, as ParseBatchLine reads each line (a line ends at "\n", and
// a "\r" before it is not part of it). The first bad line stops it, with
// a *BatchLineError.
//
// It builds one job at a time, as the store inserts them (JobInsert takes
// a stream), so that a batch of 200,000 jobs is never a slice of 200,000
// jobs (docs/performance.md, issue 10). It does what calling
// ParseBatchLine for each line would, faster: every command is a piece of
// one string that holds the whole input, not a string of its own; JSON
// lines in the plainest JSON are read by quickLine, without reflection,
// and the others by one decoder that runs through the input, checking
// that each value starts and ends on its line, rather than by a new
// decoder (and buffer) for each line. Any line that decoder does not read
// cleanly is read again by ParseBatchLine, which decides the job or the
// error, so that the two cannot differ.
type BatchReader struct {
	text   string
	asJSON bool
	def    JobInsertParams
	now    time.Time
	start  int           // where the next line starts
	n      int           // the number of the line read last
	stream *json.Decoder // nil: start one at the next line
	base   int           // where in text stream starts
	err    error         // the error that stopped it, returned again
}

// NewBatchReader reads the jobs of data, starting each from def.
func NewBatchReader(data []byte, asJSON bool, def JobInsertParams, now time.Time) *BatchReader {
	return &BatchReader{text: string(data), asJSON: asJSON, def: def, now: now}
}

// Next returns the next job, io.EOF after the last, or the
// *BatchLineError of a bad line (then again at every call).
func (r *BatchReader) Next() (JobInsertParams, error) {
	for r.err == nil {
		if r.start >= len(r.text) {
			r.err = io.EOF
			break
		}
		p, ok, err := r.line()
		if err != nil {
			r.err = &BatchLineError{r.n, err}
			break
		}
		if ok {
			return p, nil
		}
	}
	return JobInsertParams{}, r.err
}

// All yields the jobs Next would return, then the error that stopped
// them, if not io.EOF: the stream JobInsert takes.
func (r *BatchReader) All() iter.Seq2[JobInsertParams, error] {
	return func(yield func(JobInsertParams, error) bool) {
		for {
			p, err := r.Next()
			if err == io.EOF || !yield(p, err) || err != nil {
				return
			}
		}
	}
}

// CheckBatch reads data through a BatchReader, dropping each job, and
// returns the *BatchLineError of its first bad line, or nil: a batch
// checked whole before its database is opened (enqueue --batch).
func CheckBatch(data []byte, asJSON bool, def JobInsertParams, now time.Time) error {
	r := NewBatchReader(data, asJSON, def, now)
	for {
		if _, err := r.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// PlainBatchClean reports, in one cheap pass, whether plain batch input
// (not --json) holds no bad line, given defaults Validate accepts (a
// first good line shows they are): a plain line is a shell command that
// takes all else from the defaults, so only a NUL byte (Validate) or a
// length over MaxBatchLine (BatchReader) makes one bad. When it is false
// there is a bad line, which CheckBatch names.
func PlainBatchClean(data []byte) bool {
	if bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	for len(data) > MaxBatchLine {
		i := bytes.IndexByte(data[:MaxBatchLine], '\n')
		if i < 0 {
			return false
		}
		data = data[i+1:]
	}
	return true
}

// line reads the next line: a job, or ok false for a blank line.
func (r *BatchReader) line() (p JobInsertParams, ok bool, err error) {
	text := r.text
	r.n++
	lineStart, end := r.start, len(text)
	if i := strings.IndexByte(text[lineStart:], '\n'); i >= 0 {
		end = lineStart + i + 1
	}
	r.start = end
	if end-lineStart > MaxBatchLine {
		return p, false, fmt.Errorf("longer than %d bytes", MaxBatchLine)
	}
	line := strings.TrimSuffix(strings.TrimSuffix(text[lineStart:end], "\n"), "\r")
	lineEnd := lineStart + len(line)
	if len(strings.TrimSpace(line)) == 0 {
		if !isJSONSpace(line) {
			r.stream = nil // a space of Unicode's, which JSON would refuse
		}
		return p, false, nil
	}
	p = r.def
	p.Env = slices.Clone(r.def.Env)
	if !r.asJSON {
		p.Command, p.Argv = line, ShellArgv(line)
		p.State = NewJobState(p.RunAt, r.now)
		return p, true, p.Validate()
	}
	if b, ok := quickLine(line); ok {
		r.stream = nil // it stands at this line's value
		return p, true, b.apply(&p, &r.def, r.now)
	}
	if r.stream == nil {
		r.stream = json.NewDecoder(strings.NewReader(text[lineStart:]))
		r.stream.DisallowUnknownFields()
		r.base = lineStart
	}
	var b batchLine
	err = r.stream.Decode(&b)
	if valueEnd := r.base + int(r.stream.InputOffset()); err == nil && valueEnd <= lineEnd && isJSONSpace(text[valueEnd:lineEnd]) {
		err = b.apply(&p, &r.def, r.now)
	} else {
		// Not one value on this line alone (or not a job): the line is
		// read again, by itself, to say what is wrong.
		r.stream = nil
		p, err = ParseBatchLine([]byte(line), true, r.def, r.now)
	}
	return p, true, err
}

// isJSONSpace reports whether s holds nothing but JSON's white space.
func isJSONSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// ParseBatchLine reads one line of `enqueue --batch` into a job, starting
// from the defaults in def. A plain line is a shell command; with asJSON the
// line is an object with the keys of batchLine. The result is validated.
func ParseBatchLine(line []byte, asJSON bool, def JobInsertParams, now time.Time) (JobInsertParams, error) {
	p := def
	p.Env = slices.Clone(def.Env)
	if !asJSON {
		cmd := string(line)
		p.Command, p.Argv = cmd, ShellArgv(cmd)
		p.State = NewJobState(p.RunAt, now)
		return p, p.Validate()
	}
	var b batchLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return p, fmt.Errorf("invalid JSON: %w", err)
	}
	// More would miss a stray '}' or ']': only the end of the line may follow.
	if _, err := dec.Token(); err != io.EOF {
		return p, errors.New("invalid JSON: more than one value on the line")
	}
	return p, b.apply(&p, &def, now)
}

// apply sets in p, which starts as a copy of def, what the line says, and
// validates the result.
func (b *batchLine) apply(p, def *JobInsertParams, now time.Time) error {
	switch {
	case b.Command != nil && b.Argv != nil:
		return errors.New("give command or argv, not both")
	case b.Command != nil:
		p.Command, p.Argv = *b.Command, ShellArgv(*b.Command)
	case b.Argv != nil:
		p.Command, p.Argv = QuoteArgv(b.Argv), b.Argv
	default:
		return errors.New("missing command or argv")
	}
	if b.Queue != nil {
		p.Queue = *b.Queue
	}
	if b.Priority != nil {
		p.Priority = *b.Priority
	}
	if b.RunAt != nil {
		t, err := ParseTime(*b.RunAt, now)
		if err != nil {
			return err
		}
		p.RunAt = t
	}
	if b.MaxAttempts != nil {
		p.MaxAttempts = *b.MaxAttempts
	}
	if b.Timeout != nil {
		d, err := ParseDuration(*b.Timeout)
		if err != nil {
			return err
		}
		p.Timeout = d
	}
	if b.UniqueKey != nil {
		p.UniqueKey = *b.UniqueKey
	}
	for k, v := range b.Env {
		if k == "" || strings.ContainsRune(k, '=') {
			return fmt.Errorf("invalid environment variable name %q", k)
		}
		p.Env = SetEnv(p.Env, k+"="+v)
	}
	if b.Dir != nil {
		p.Dir = *b.Dir
		if !filepath.IsAbs(p.Dir) {
			p.Dir = filepath.Join(def.Dir, p.Dir)
		}
	}
	p.State = NewJobState(p.RunAt, now)
	return p.Validate()
}

// SetEnv sets K=V in env, replacing an earlier value of K; env stays sorted
// by key so that a job's environment reads the same however it was given.
func SetEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
	env = append(env, kv)
	slices.Sort(env)
	return env
}
