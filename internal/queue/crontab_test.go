package queue

import (
	"slices"
	"strings"
	"testing"
)

// debianHeader is the template Debian's crontab -e starts a new crontab
// with (cron 3.0pl1, debian/patches).
const debianHeader = `# Edit this file to introduce tasks to be run by cron.
# 
# Each task to run has to be defined through a single line
# indicating with different fields when the task will be run
# and what command to run for the task
# 
# To define the time you can provide concrete values for
# minute (m), hour (h), day of month (dom), month (mon),
# and day of week (dow) or use '*' in these fields (for 'any').
# 
# Notice that tasks will be started based on the cron's system
# daemon's notion of time and timezones.
# 
# Output of the crontab jobs (including errors) is sent through
# email to the user the crontab file belongs to (unless redirected).
# 
# For example, you can run a backup of all your user accounts
# at 5 a.m every week with:
# 0 5 * * 1 tar -zcf /var/backups/home.tgz /home/
# 
# For more information see the manual pages of crontab(5) and cron(8)
# 
# m h  dom mon dow   command
`

const sampleCrontab = debianHeader + `SHELL=/bin/sh
MAILTO=ops@example.com
PATH=/usr/local/bin:/usr/bin:/bin

# Nightly backup
30 2 * * * pg_dump app | gzip > /backup/app-$(date +\%F).sql.gz

*/5 * * * * /usr/local/bin/sync-photos --all
BACKUP_DIR = "/srv/backup"
CRON_TZ=Europe/Berlin
# Weekly report
# (for the board)
0 8 * * mon cd /srv/app && ./bin/report
@hourly /usr/local/bin/sync-photos --quick
@every 90s true
# Clean up
#0 4 * * * /usr/local/bin/old-job
0 5 * * 7 /usr/local/bin/prune --weekly
`

func TestParseCrontab(t *testing.T) {
	t.Parallel()
	tab, err := ParseCrontab(strings.NewReader(sampleCrontab))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		line                       int
		name, desc, expr, zone, cm string
		env                        []string
	}
	path := "PATH=/usr/local/bin:/usr/bin:/bin"
	bd := "BACKUP_DIR=/srv/backup"
	h := strings.Count(debianHeader, "\n") - 1 // the sample's line 1 is the header's last
	want := []row{
		{h + 7, "nightly-backup", "Nightly backup", "30 2 * * *", "", "pg_dump app | gzip > /backup/app-$(date +%F).sql.gz", []string{path}},
		{h + 9, "sync-photos", "", "*/5 * * * *", "", "/usr/local/bin/sync-photos --all", []string{path}},
		{h + 14, "weekly-report", "Weekly report (for the board)", "0 8 * * mon", "Europe/Berlin", "cd /srv/app && ./bin/report", []string{bd, path}},
		{h + 15, "sync-photos-2", "", "@hourly", "Europe/Berlin", "/usr/local/bin/sync-photos --quick", []string{bd, path}},
		{h + 16, "true", "", "@every 90s", "Europe/Berlin", "true", []string{bd, path}},
		// The comment above a commented-out job described that job.
		{h + 19, "prune", "", "0 5 * * 7", "Europe/Berlin", "/usr/local/bin/prune --weekly", []string{bd, path}},
	}
	if len(tab.Entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(tab.Entries), len(want), tab.Entries)
	}
	for i, w := range want {
		e := tab.Entries[i]
		got := row{e.Line, e.Name, e.Description, e.Expr, e.Zone, e.Command, e.Env}
		if got.line != w.line || got.name != w.name || got.desc != w.desc || got.expr != w.expr ||
			got.zone != w.zone || got.cm != w.cm || !slices.Equal(got.env, w.env) {
			t.Errorf("entry %d = %+v\nwant %+v", i, got, w)
		}
		if !slices.Equal(e.Argv, ShellArgv(e.Command)) {
			t.Errorf("entry %d argv = %q", i, e.Argv)
		}
	}
	if len(tab.Notes) != 1 || !strings.Contains(tab.Notes[0], "MAILTO") {
		t.Errorf("notes = %q, want one about MAILTO", tab.Notes)
	}
}

// TestParseCrontabComments: a schedule is named after the words right
// above it, not after crontab -e's template or a job put out of use.
func TestParseCrontabComments(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, text, wantName, wantDesc string }{
		{"Debian template right above", debianHeader + "0 1 * * * /usr/bin/backup --all\n", "backup", ""},
		{"Debian template, then a comment", debianHeader + "# Nightly backup\n0 1 * * * /usr/bin/backup\n", "nightly-backup", "Nightly backup"},
		{"commented-out job right above", "#0 4 * * * /usr/local/bin/old-job\n0 5 * * * /usr/bin/new-job\n", "new-job", ""},
		{"its comment, then the commented-out job", "# Old job\n#0 4 * * * /usr/local/bin/old-job\n0 5 * * * /usr/bin/new-job\n", "new-job", ""},
		{"commented-out descriptor", "# Old\n# @daily /usr/bin/old\n@hourly /usr/bin/new\n", "new", ""},
		{"a comment below the commented-out job", "#0 4 * * * /usr/local/bin/old-job\n# Sync\n0 5 * * * /usr/bin/new-job\n", "sync", "Sync"},
		{"last paragraph", "# General notes\n#\n# Rotate logs\n@daily /usr/bin/rotate\n", "rotate-logs", "Rotate logs"},
		{"words with numbers stay words", "# Runs at 5 past 2 every day\n5 2 * * * /usr/bin/x\n", "runs-at-5-past-2-every-day", "Runs at 5 past 2 every day"},
	} {
		tab, err := ParseCrontab(strings.NewReader(tt.text))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(tab.Entries) != 1 {
			t.Errorf("%s: %d entries, want 1", tt.name, len(tab.Entries))
			continue
		}
		if e := tab.Entries[0]; e.Name != tt.wantName || e.Description != tt.wantDesc {
			t.Errorf("%s: name %q description %q, want %q %q", tt.name, e.Name, e.Description, tt.wantName, tt.wantDesc)
		}
	}
}

func TestParseCrontabHome(t *testing.T) {
	t.Parallel()
	tab, err := ParseCrontab(strings.NewReader("@daily a\nHOME=/srv/app\n@daily b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h0, h1 := tab.Entries[0].Home, tab.Entries[1].Home; h0 != "" || h1 != "/srv/app" {
		t.Errorf("homes %q, %q; want none, then /srv/app", h0, h1)
	}
	if env := tab.Entries[1].Env; !slices.Equal(env, []string{"HOME=/srv/app"}) {
		t.Errorf("env %q, want HOME=/srv/app as cron gives it", env)
	}
}

func TestParseSystemCrontab(t *testing.T) {
	t.Parallel()
	tab, err := ParseSystemCrontab(strings.NewReader("SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n@daily  backup\t/usr/bin/backup --all\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(tab.Entries))
	}
	for i, want := range [][2]string{{"root", "cd / && run-parts --report /etc/cron.hourly"}, {"backup", "/usr/bin/backup --all"}} {
		if e := tab.Entries[i]; e.User != want[0] || e.Command != want[1] {
			t.Errorf("entry %d: user %q command %q, want %q %q", i, e.User, e.Command, want[0], want[1])
		}
	}
	if _, err := ParseSystemCrontab(strings.NewReader("0 1 * * * /usr/bin/x\n")); err == nil {
		t.Error("a line without a user: no error")
	}
}

func TestParseCrontabShell(t *testing.T) {
	t.Parallel()
	tab, err := ParseCrontab(strings.NewReader("SHELL=/bin/bash\n@daily echo {a,b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Entries[0].Argv; !slices.Equal(got, []string{"/bin/bash", "-c", "echo {a,b}"}) {
		t.Errorf("argv = %q, want bash -c", got)
	}
}

func TestParseCrontabRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ text, err string }{
		{"@reboot /usr/local/bin/start\n", "line 1: @reboot"},
		{"@daily echo ok\n0 0 * * * date +%F\n", "line 2: a % not escaped"},
		{"61 * * * * true\n", "line 1: cron expression"},
		{"* * * * *\n", "no command"},
		{"CRON_TZ=Mars/Base\n", "unknown time zone"},
		{"hello world\n", "neither a schedule"},
		{"@every\n", "no command"},
	} {
		_, err := ParseCrontab(strings.NewReader(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseCrontab(%q) = %v, want an error with %q", tt.text, err, tt.err)
		}
	}
}

func FuzzParseCrontab(f *testing.F) {
	f.Add(sampleCrontab)
	f.Add(debianHeader + "0 1 * * 7 x\n")
	f.Add("@reboot x\n")
	f.Add("A=1\n# c\n0 0 1 1 * x \\% y\n")
	f.Add("SHELL=\n")
	f.Add("#system\n0 1 * * 7 root /usr/bin/x\n")
	f.Fuzz(func(t *testing.T, text string) {
		parse := ParseCrontab
		if strings.HasPrefix(text, "#system") {
			parse = ParseSystemCrontab
		}
		tab, err := parse(strings.NewReader(text))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range tab.Entries {
			if err := ValidateScheduleName(e.Name); err != nil {
				t.Fatalf("entry of line %d: %v", e.Line, err)
			}
			if seen[e.Name] {
				t.Fatalf("name %q twice", e.Name)
			}
			seen[e.Name] = true
			if _, err := ParseTiming(e.Expr, e.Zone); err != nil {
				t.Fatalf("entry of line %d: %v", e.Line, err)
			}
			if e.Command == "" || len(e.Argv) != 3 || e.Argv[2] != e.Command {
				t.Fatalf("entry of line %d: command %q argv %q", e.Line, e.Command, e.Argv)
			}
			for _, kv := range e.Env {
				if err := validateEnv(kv); err != nil {
					t.Fatalf("entry of line %d: env %q: %v", e.Line, kv, err)
				}
			}
		}
	})
}
