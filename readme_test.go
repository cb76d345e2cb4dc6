package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cronLine is a crontab line: five time fields (or @daily and the like),
// then the command.
var cronLine = regexp.MustCompile(`^(?:@\w+|(?:\S+\s+){4}\S+)\s+(.*)$`)

// cronVar is a crontab line that sets a variable for the lines after it.
var cronVar = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)

// TestREADMECrontab runs the README's crontab lines as Debian's cron runs
// them: env -i with only HOME, LOGNAME, PATH=/usr/bin:/bin and
// SHELL=/bin/sh, plus the crontab's own variables, each command through
// /bin/sh -c, with jobq installed as the README installs it (PREFIX
// /usr/local, here under a temporary folder). A line that needs the
// caller's PATH fails with "jobq: not found".
func TestREADMECrontab(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := crontabBlock(t, string(readme))

	root := t.TempDir()
	prefix := filepath.Join(root, "usr", "local")
	home := filepath.Join(root, "home", "alice")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(prefix, "bin", "jobq"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The README's jobs call /usr/local/bin/sync-photos: a stand-in that
	// leaves a mark.
	mark := filepath.Join(root, "synced")
	script := "#!/bin/sh\ntouch " + mark + "\n"
	if err := os.WriteFile(filepath.Join(prefix, "bin", "sync-photos"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	env := []string{"HOME=" + home, "LOGNAME=alice", "PATH=/usr/bin:/bin", "SHELL=/bin/sh"}
	ran := 0
	for _, line := range block {
		line = strings.ReplaceAll(line, "/usr/local", prefix)
		if m := cronVar.FindStringSubmatch(line); m != nil {
			env = append(env, m[1]+"="+m[2])
			continue
		}
		m := cronLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("README crontab line %q is neither a job nor a variable", line)
		}
		if strings.Contains(m[1], "%") {
			t.Errorf("crontab line %q: cron turns %% into a newline; escape it as \\%%", line)
		}
		cmd := exec.Command("/usr/bin/env", append(append([]string{"-i"}, env...), "/bin/sh", "-c", m[1])...)
		cmd.Dir = home // cron starts jobs in the user's home
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("crontab line %q: %v\n%s", line, err, out)
		}
		ran++
	}
	if ran == 0 {
		t.Fatal("the README's crontab block has no job line")
	}
	// The enqueue line's job was run by the drain line.
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the README's crontab enqueued and drained, but sync-photos did not run: %v", err)
	}
}

// crontabBlock returns the lines of the README's ```crontab block.
func crontabBlock(t *testing.T, readme string) []string {
	t.Helper()
	var lines []string
	in, found := false, false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "```crontab":
			in, found = true, true
		case in && strings.HasPrefix(l, "```"):
			in = false
		case in && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			lines = append(lines, l)
		}
	}
	if !found {
		t.Fatal("README.md has no ```crontab block")
	}
	return lines
}
