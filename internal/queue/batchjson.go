package queue

import (
	"strings"
	"unicode/utf8"
)

// quickLine reads a line of `enqueue --batch --json` that is one object
// in the plainest JSON, without encoding/json's reflection: keys of
// batchLine spelled exactly, strings of valid UTF-8 with no \u escape and
// no control character, integers of at most 9 digits, argv an array of
// such strings and env an object of them, each key once, white space
// around any of it. Anything else (null, a key in other case, another
// number, a duplicate key, ...) it leaves, ok false, to encoding/json,
// which decides the error or the job; what it reads, it reads as
// encoding/json would (FuzzBatchReader compares the two). Strings
// without escapes are pieces of line, not copies.
//
// For 20,000 lines of {"command":"true"}, encoding/json's stream took
// about 5,000 instructions a line; a third of a --json batch's Go side.
func quickLine(line string) (b batchLine, ok bool) {
	q := quick{s: line}
	q.space()
	if !q.byte('{') {
		return b, false
	}
	var seen uint16
	q.space()
	if q.byte('}') {
		q.space()
		return b, q.i == len(q.s)
	}
	for {
		q.space()
		key, ok := q.str()
		if !ok {
			return b, false
		}
		q.space()
		if !q.byte(':') {
			return b, false
		}
		q.space()
		var bit uint16
		switch key {
		case "command":
			bit, ok = 1<<0, q.strp(&b.Command)
		case "argv":
			bit, ok = 1<<1, q.strs(&b.Argv)
		case "queue":
			bit, ok = 1<<2, q.strp(&b.Queue)
		case "priority":
			bit, ok = 1<<3, q.intp(&b.Priority)
		case "run_at":
			bit, ok = 1<<4, q.strp(&b.RunAt)
		case "max_attempts":
			bit, ok = 1<<5, q.intp(&b.MaxAttempts)
		case "timeout":
			bit, ok = 1<<6, q.strp(&b.Timeout)
		case "unique_key":
			bit, ok = 1<<7, q.strp(&b.UniqueKey)
		case "env":
			bit, ok = 1<<8, q.env(&b.Env)
		case "dir":
			bit, ok = 1<<9, q.strp(&b.Dir)
		}
		if !ok || bit == 0 || seen&bit != 0 {
			return b, false
		}
		seen |= bit
		q.space()
		if q.byte('}') {
			q.space()
			return b, q.i == len(q.s)
		}
		if !q.byte(',') {
			return b, false
		}
	}
}

// quick reads s from i on.
type quick struct {
	s string
	i int
}

func (q *quick) space() {
	for q.i < len(q.s) {
		switch q.s[q.i] {
		case ' ', '\t', '\r', '\n':
			q.i++
		default:
			return
		}
	}
}

func (q *quick) byte(c byte) bool {
	if q.i < len(q.s) && q.s[q.i] == c {
		q.i++
		return true
	}
	return false
}

// str reads a string: a piece of s when it has no escape.
func (q *quick) str() (string, bool) {
	if !q.byte('"') {
		return "", false
	}
	start := q.i
	var b []byte // the string so far, once an escape is met
	ascii := true
	for q.i < len(q.s) {
		c := q.s[q.i]
		switch {
		case c == '"':
			s := q.s[start:q.i]
			q.i++
			if b != nil {
				s = string(append(b, s...))
			}
			if !ascii && !utf8.ValidString(s) {
				return "", false // encoding/json replaces bad bytes
			}
			return s, true
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
			q.i++
		case c == '\\':
			if q.i+1 >= len(q.s) {
				return "", false
			}
			var r byte
			switch q.s[q.i+1] {
			case '"', '\\', '/':
				r = q.s[q.i+1]
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			default:
				return "", false // \u and what is no escape
			}
			b = append(append(b, q.s[start:q.i]...), r)
			q.i += 2
			start = q.i
		default:
			q.i++
		}
	}
	return "", false
}

func (q *quick) strp(dst **string) bool {
	s, ok := q.str()
	*dst = &s
	return ok
}

// intp reads an integer of 1 to 9 digits, no leading zero but 0 itself,
// with a minus sign or not.
func (q *quick) intp(dst **int) bool {
	neg := q.byte('-')
	start := q.i
	n := 0
	for q.i < len(q.s) && q.s[q.i] >= '0' && q.s[q.i] <= '9' {
		n = n*10 + int(q.s[q.i]-'0')
		q.i++
	}
	digits := q.i - start
	switch {
	case digits == 0 || digits > 9 || digits > 1 && q.s[start] == '0' || neg && n == 0:
		return false
	case q.i < len(q.s) && strings.IndexByte(".eE", q.s[q.i]) >= 0:
		return false
	}
	if neg {
		n = -n
	}
	*dst = &n
	return true
}

func (q *quick) strs(dst *[]string) bool {
	if !q.byte('[') {
		return false
	}
	list := []string{}
	q.space()
	if q.byte(']') {
		*dst = list
		return true
	}
	for {
		q.space()
		s, ok := q.str()
		if !ok {
			return false
		}
		list = append(list, s)
		q.space()
		if q.byte(']') {
			*dst = list
			return true
		}
		if !q.byte(',') {
			return false
		}
	}
}

func (q *quick) env(dst *map[string]string) bool {
	if !q.byte('{') {
		return false
	}
	env := map[string]string{}
	q.space()
	if q.byte('}') {
		*dst = env
		return true
	}
	for {
		q.space()
		k, ok := q.str()
		if !ok {
			return false
		}
		q.space()
		if !q.byte(':') {
			return false
		}
		q.space()
		v, ok := q.str()
		if !ok {
			return false
		}
		if _, dup := env[k]; dup {
			return false
		}
		env[k] = v
		q.space()
		if q.byte('}') {
			*dst = env
			return true
		}
		if !q.byte(',') {
			return false
		}
	}
}
