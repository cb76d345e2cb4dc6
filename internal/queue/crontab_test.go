package queue

import (
	"slices"
	"strings"
	"testing"
)

const sampleCrontab = `# m h dom mon dow command
SHELL=/bin/sh
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
	want := []row{
		{7, "nightly-backup", "Nightly backup", "30 2 * * *", "", "pg_dump app | gzip > /backup/app-$(date +%F).sql.gz", []string{path}},
		{9, "sync-photos", "", "*/5 * * * *", "", "/usr/local/bin/sync-photos --all", []string{path}},
		{14, "weekly-report", "Weekly report (for the board)", "0 8 * * mon", "Europe/Berlin", "cd /srv/app && ./bin/report", []string{"BACKUP_DIR=/srv/backup", path}},
		{15, "sync-photos-2", "", "@hourly", "Europe/Berlin", "/usr/local/bin/sync-photos --quick", []string{"BACKUP_DIR=/srv/backup", path}},
		{16, "true", "", "@every 90s", "Europe/Berlin", "true", []string{"BACKUP_DIR=/srv/backup", path}},
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
	f.Add("@reboot x\n")
	f.Add("A=1\n# c\n0 0 1 1 * x \\% y\n")
	f.Add("SHELL=\n")
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := ParseCrontab(strings.NewReader(text))
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
