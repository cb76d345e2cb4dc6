package queue

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// CrontabEntry is one line of a crontab, read for jobq schedule import.
type CrontabEntry struct {
	Line        int    // its line number, from 1
	Name        string // from the comment above it, or its command
	Description string // the comment lines right above it
	Expr        string
	Zone        string   // CRON_TZ or TZ set above it; empty: local
	Command     string   // with cron's \% made %
	Argv        []string // the shell of SHELL above it (/bin/sh) -c Command
	Env         []string // the VAR=value lines above it
	Home        string   // HOME set above it, where cron runs it; empty: not set
	User        string   // a system crontab's user field; empty in a user's crontab
}

// Crontab is what ParseCrontab read.
type Crontab struct {
	Entries []CrontabEntry
	// Notes explain what jobq does with the settings cron has and jobq
	// has not (MAILTO), one line each, for the user to read.
	Notes []string
}

// maxCrontabLine bounds a line of a crontab (cronie's limit is lower).
const maxCrontabLine = 64 << 10

// ParseCrontab reads a user's crontab (as crontab -l prints it): five
// fields or a descriptor and a command per line; VAR=value lines set the
// environment of the lines below them (CRON_TZ or TZ their zone, SHELL
// the shell that runs them); comments right above a line become its
// description and, when no name is given, its name: the last paragraph of
// them, after any line put out of use (a commented-out job, the header of
// Debian's crontab -e template). @reboot is refused,
// and so is a % not escaped as \%, which cron turns into standard input
// that jobq does not give. The first bad line is an error: all or nothing.
func ParseCrontab(r io.Reader) (*Crontab, error) { return parseCrontab(r, false) }

// ParseSystemCrontab reads a system crontab (/etc/crontab, a file of
// /etc/cron.d) as ParseCrontab reads a user's, but with the user field
// that follows the schedule on each line: "0 1 * * * root /usr/bin/x"
// runs /usr/bin/x, as root. Read as a user's crontab, its command would
// be "root /usr/bin/x".
func ParseSystemCrontab(r io.Reader) (*Crontab, error) { return parseCrontab(r, true) }

func parseCrontab(r io.Reader, system bool) (*Crontab, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxCrontabLine)
	out := &Crontab{}
	var env []string
	var comment []string
	zone, shell, home := "", "/bin/sh", ""
	used := map[string]bool{}
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			comment = nil // a comment belongs to the line right below it
			continue
		case strings.HasPrefix(line, "#"):
			switch c := strings.TrimSpace(strings.TrimLeft(line, "#")); {
			case c == "", isCommentedOutLine(c):
				// A paragraph ends, or a line put out of use (a job, the
				// "m h dom mon dow command" ruler of crontab -e's
				// template): what is above it does not describe the
				// line below.
				comment = nil
			default:
				comment = append(comment, c)
			}
			continue
		}
		if !strings.HasPrefix(line, "@") && !strings.HasPrefix(line, "*") && (line[0] < '0' || line[0] > '9') {
			name, value, err := parseCrontabEnv(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			comment = nil
			switch name {
			case "MAILTO", "MAILFROM":
				out.Notes = append(out.Notes, fmt.Sprintf("line %d: %s: jobq mails nothing; a failed job's output is kept (jobq logs ID, jobq list --state dead)", n, name))
			case "CRON_TZ", "TZ":
				if _, err := ParseTiming("@daily", value); err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
				zone = value
			case "SHELL":
				if value == "" {
					return nil, fmt.Errorf("line %d: empty SHELL", n)
				}
				shell = value
				if value != "/bin/sh" {
					out.Notes = append(out.Notes, fmt.Sprintf("line %d: SHELL=%s: the lines below it run as %s -c COMMAND, as cron runs them", n, value, value))
				}
			case "HOME":
				// cron runs the lines below in it, and gives it to them.
				home = value
				env = SetEnv(slices.Clone(env), name+"="+value)
			default:
				env = SetEnv(slices.Clone(env), name+"="+value)
			}
			continue
		}
		e, err := parseCrontabEntry(line, system)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		e.Line, e.Zone, e.Env, e.Home = n, zone, env, home
		e.Argv = []string{shell, "-c", e.Command}
		if shell == "/bin/sh" {
			e.Argv = ShellArgv(e.Command)
		}
		e.Description = strings.Join(comment, " ")
		e.Name = uniqueName(nameFor(comment, e.Command), used)
		comment = nil
		out.Entries = append(out.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return out, nil
}

// isCommentedOutLine says whether a comment's text is a crontab line put
// out of use ("#0 4 * * * /usr/local/bin/old-job") or the ruler that ends
// the header Debian's crontab -e writes ("# m h  dom mon dow   command"),
// rather than words about the line below.
func isCommentedOutLine(text string) bool {
	f := strings.Fields(text)
	if strings.Join(f, " ") == "m h dom mon dow command" {
		return true
	}
	if len(f) >= 2 && strings.HasPrefix(f[0], "@") {
		switch f[0] {
		case "@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return true
		case "@every":
			return len(f) >= 3
		}
		return false
	}
	if len(f) < 6 {
		return false
	}
	_, err := ParseTiming(strings.Join(f[:5], " "), "UTC")
	return err == nil
}

// parseCrontabEnv reads "NAME = value", the value perhaps in quotes.
func parseCrontabEnv(line string) (name, value string, err error) {
	name, value, ok := strings.Cut(line, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 || name[0] >= '0' && name[0] <= '9' {
		return "", "", fmt.Errorf("neither a schedule (five fields or @daily ... and a command) nor VAR=value: %q", truncateText(line, 60))
	}
	value = strings.TrimSpace(value)
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	if strings.ContainsRune(value, 0) {
		return "", "", fmt.Errorf("%s: a NUL byte in the value", name)
	}
	return name, value, nil
}

// parseCrontabEntry reads a schedule line: its expression, the user when
// system, and its command.
func parseCrontabEntry(line string, system bool) (CrontabEntry, error) {
	var e CrontabEntry
	fields := 5
	if strings.HasPrefix(line, "@") {
		fields = 1
		if strings.HasPrefix(line, "@every") {
			fields = 2
		}
	}
	rest := line
	var expr []string
	for range fields {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return e, fmt.Errorf("no command after the schedule: %q", truncateText(line, 60))
		}
		expr = append(expr, rest[:i])
		rest = rest[i:]
	}
	e.Expr = strings.Join(expr, " ")
	if _, err := ParseTiming(e.Expr, ""); err != nil {
		return e, err
	}
	if system {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return e, fmt.Errorf("no user and command after the schedule (a system crontab's line is: schedule, user, command): %q", truncateText(line, 60))
		}
		e.User, rest = rest[:i], rest[i:]
	}
	command, err := unescapePercent(strings.TrimSpace(rest))
	if err != nil {
		return e, err
	}
	if command == "" {
		return e, fmt.Errorf("no command after the schedule: %q", truncateText(line, 60))
	}
	if strings.ContainsRune(command, 0) {
		return e, fmt.Errorf("command contains a NUL byte")
	}
	e.Command = command
	return e, nil
}

// unescapePercent undoes cron's \%, and refuses a bare %: cron ends the
// command there and gives the rest as standard input, which a jobq job
// does not have.
func unescapePercent(command string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(command); i++ {
		switch {
		case command[i] == '\\' && i+1 < len(command) && command[i+1] == '%':
			b.WriteByte('%')
			i++
		case command[i] == '%':
			return "", fmt.Errorf("a %% not escaped as \\%%: cron would end the command there and give the rest as standard input, which jobq jobs do not have; write \\%% for a %%, or feed the input from a file")
		default:
			b.WriteByte(command[i])
		}
	}
	return b.String(), nil
}

// nameFor makes a schedule's name from the first line of the comment
// above its line (its title), else
// from its command's first word ("/usr/local/bin/sync-photos --all" is
// "sync-photos").
func nameFor(comment []string, command string) string {
	if len(comment) > 0 {
		if name := slug(comment[0]); name != "" {
			return name
		}
	}
	word := command
	if f := strings.Fields(command); len(f) > 0 {
		word = f[0]
		// Skip assignments and wrappers that say nothing: cd dir &&, env.
		for _, w := range f {
			if strings.Contains(w, "=") || w == "cd" || w == "&&" || w == "env" || w == "nice" || w == "ionice" || strings.HasPrefix(w, "-") {
				continue
			}
			word = w
			break
		}
	}
	if i := strings.LastIndexByte(word, '/'); i >= 0 && i < len(word)-1 {
		word = word[i+1:]
	}
	if name := slug(word); name != "" {
		return name
	}
	return "cron"
}

// slug turns text into a name: lower case letters and digits, runs of
// anything else as one -, at most 40 bytes.
func slug(text string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(text) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= 40 {
				break
			}
			continue
		}
		dash = true
	}
	return b.String()
}

// uniqueName is name, or name-2, name-3 ... when taken, and marks it used.
func uniqueName(name string, used map[string]bool) string {
	try := name
	for i := 2; used[try]; i++ {
		try = fmt.Sprintf("%s-%d", name, i)
	}
	used[try] = true
	return try
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
