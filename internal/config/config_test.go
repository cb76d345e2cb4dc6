package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// env is a test's environment: only what it sets, nothing of the
// machine's, so that tests run side by side.
type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

// setup isolates a test from the machine's config files and JOBQ_*
// variables: it returns a temporary directory and an environment whose
// XDG_CONFIG_HOME and HOME are that directory.
func setup(t *testing.T) (string, env) {
	t.Parallel()
	dir := t.TempDir()
	return dir, env{"XDG_CONFIG_HOME": dir, "HOME": dir}
}

func writeFile(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	_, e := setup(t)
	c, err := Load("", e.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		BusyTimeout: 5 * time.Second,
		Defaults:    Defaults{MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Hour},
		Work:        Work{Concurrency: 1, OutputLimit: 1 << 20, KillGrace: 10 * time.Second, Lease: 30 * time.Second, Grace: 25 * time.Second},
		Retention:   Retention{Succeeded: 7 * 24 * time.Hour, Dead: 90 * 24 * time.Hour},
	}
	if c.sources = (sources{}); !reflect.DeepEqual(c, want) {
		t.Errorf("Load() = %+v, want %+v", c, want)
	}
}

// The example file documents every key with its default: loading it must
// give exactly the built-in defaults.
func TestExampleFileIsComplete(t *testing.T) {
	_, e := setup(t)
	body, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(body), "\n"+leaf+":") && !strings.Contains(string(body), "  "+leaf+":") {
			t.Errorf("config.example.yaml does not document %s", k)
		}
	}
	fromExample, err := Load("../../config.example.yaml", e.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	builtIn, err := Load("", e.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromExample.sources, builtIn.sources = sources{}, sources{}
	if !reflect.DeepEqual(fromExample, builtIn) {
		t.Errorf("config.example.yaml gives %+v, the built-in defaults are %+v", fromExample, builtIn)
	}
}

func TestPrecedence(t *testing.T) {
	dir, e := setup(t)
	path := writeFile(t, dir, "db: /from/file.db\ndefaults:\n  max_attempts: 7\n  permanent_exit: \"3,5\"\nwork:\n  lease: 1m\n")
	e["JOBQ_DEFAULTS_MAX_ATTEMPTS"] = "9"
	c, err := Load(path, e.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DB != "/from/file.db" || c.Defaults.MaxAttempts != 9 || c.Work.Lease != time.Minute ||
		!reflect.DeepEqual(c.Defaults.PermanentExit, []int{3, 5}) {
		t.Errorf("Load() = %+v", c)
	}
	e["JOBQ_DB"] = "/from/env.db"
	if c, err = Load(path, e.lookup, nil); err != nil || c.DB != "/from/env.db" {
		t.Errorf("JOBQ_DB: got %q, %v", c.DB, err)
	}
}

// TestPrecedenceEveryKey sets each key in every layer it can be set in,
// then peels the layers off one by one: flag > env > file > default.
func TestPrecedenceEveryKey(t *testing.T) {
	get := map[string]func(*Config) any{
		"db":                      func(c *Config) any { return c.DB },
		"busy_timeout":            func(c *Config) any { return c.BusyTimeout },
		"defaults.max_attempts":   func(c *Config) any { return c.Defaults.MaxAttempts },
		"defaults.timeout":        func(c *Config) any { return c.Defaults.Timeout },
		"defaults.backoff":        func(c *Config) any { return c.Defaults.Backoff },
		"defaults.max_backoff":    func(c *Config) any { return c.Defaults.MaxBackoff },
		"defaults.permanent_exit": func(c *Config) any { return fmt.Sprint(c.Defaults.PermanentExit) },
		"work.concurrency":        func(c *Config) any { return c.Work.Concurrency },
		"work.output_limit":       func(c *Config) any { return c.Work.OutputLimit },
		"work.kill_grace":         func(c *Config) any { return c.Work.KillGrace },
		"work.lease":              func(c *Config) any { return c.Work.Lease },
		"work.grace":              func(c *Config) any { return c.Work.Grace },
		"retention.succeeded":     func(c *Config) any { return c.Retention.Succeeded },
		"retention.dead":          func(c *Config) any { return c.Retention.Dead },
	}
	// Values as each layer writes them, and what each must load as.
	type layer struct {
		set  string
		want any
	}
	values := map[string][3]layer{ // file, env, flag
		"db":                      {{"/file.db", "/file.db"}, {"/env.db", "/env.db"}, {"/flag.db", "/flag.db"}},
		"busy_timeout":            {{"1s", time.Second}, {"2s", 2 * time.Second}, {"3s", 3 * time.Second}},
		"defaults.max_attempts":   {{"4", 4}, {"5", 5}, {"6", 6}},
		"defaults.timeout":        {{"1m", time.Minute}, {"2m", 2 * time.Minute}, {"3m", 3 * time.Minute}},
		"defaults.backoff":        {{"4s", 4 * time.Second}, {"5s", 5 * time.Second}, {"6s", 6 * time.Second}},
		"defaults.max_backoff":    {{"2h", 2 * time.Hour}, {"3h", 3 * time.Hour}, {"4h", 4 * time.Hour}},
		"defaults.permanent_exit": {{"3", "[3]"}, {"4,5", "[4 5]"}, {"64-65", "[64 65]"}},
		"work.concurrency":        {{"2", 2}, {"3", 3}, {"4", 4}},
		"work.output_limit":       {{"100", 100}, {"200", 200}, {"300", 300}},
		"work.kill_grace":         {{"1s", time.Second}, {"2s", 2 * time.Second}, {"3s", 3 * time.Second}},
		"work.lease":              {{"1m", time.Minute}, {"2m", 2 * time.Minute}, {"3m", 3 * time.Minute}},
		"work.grace":              {{"7s", 7 * time.Second}, {"8s", 8 * time.Second}, {"9s", 9 * time.Second}},
		"retention.succeeded":     {{"1d", 24 * time.Hour}, {"2d", 48 * time.Hour}, {"1w", 7 * 24 * time.Hour}},
		"retention.dead":          {{"10d", 240 * time.Hour}, {"20d", 480 * time.Hour}, {"30d", 720 * time.Hour}},
	}
	_, defaultEnv := setup(t)
	builtIn, err := Load("", defaultEnv.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		t.Run(key, func(t *testing.T) {
			dir, e := setup(t)
			v, ok := values[key]
			if !ok || get[key] == nil {
				t.Fatalf("no test values for key %s", key)
			}
			section, leaf, nested := strings.Cut(key, ".")
			body := section + ": \"" + v[0].set + "\"\n"
			if nested {
				body = section + ":\n  " + leaf + ": \"" + v[0].set + "\"\n"
			}
			path := writeFile(t, dir, body)
			e[EnvName(key)] = v[1].set
			flags := pflag.NewFlagSet("test", pflag.ContinueOnError)
			flags.String("flag", "", "")
			BindFlag(flags.Lookup("flag"), key)
			if err := flags.Parse([]string{"--flag", v[2].set}); err != nil {
				t.Fatal(err)
			}
			unsetFlag := pflag.NewFlagSet("test", pflag.ContinueOnError)
			unsetFlag.String("flag", "", "")
			BindFlag(unsetFlag.Lookup("flag"), key)

			for _, step := range []struct {
				name   string
				file   string
				flags  *pflag.FlagSet
				want   any
				source string
			}{
				{"flag", path, flags, v[2].want, "--flag"},
				{"env", path, unsetFlag, v[1].want, EnvName(key)},
				{"file", path, unsetFlag, v[0].want, "config file " + path},
				{"default", "", unsetFlag, get[key](builtIn), "default"},
			} {
				if step.name == "file" {
					delete(e, EnvName(key))
				}
				if step.name == "default" {
					e = env{"HOME": t.TempDir()}
				}
				c, err := Load(step.file, e.lookup, step.flags)
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if got := get[key](c); got != step.want {
					t.Errorf("%s: %s = %v, want %v", step.name, key, got, step.want)
				}
				if got := c.Source(key); got != step.source {
					t.Errorf("%s: Source(%s) = %q, want %q", step.name, key, got, step.source)
				}
			}
		})
	}
}

// TestFlagError: a bad value given by a flag is named by the flag.
func TestFlagError(t *testing.T) {
	_, e := setup(t)
	flags := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.String("concurrency", "", "")
	BindFlag(flags.Lookup("concurrency"), "work.concurrency")
	if err := flags.Parse([]string{"--concurrency", "0"}); err != nil {
		t.Fatal(err)
	}
	e["JOBQ_WORK_CONCURRENCY"] = "3"
	_, err := Load("", e.lookup, flags)
	var cerr *Error
	if !errors.As(err, &cerr) || !cerr.FromFlag() || err.Error() != `--concurrency: invalid value "0" (a whole number, at least 1)` {
		t.Errorf("Load() error = %v, want one naming --concurrency", err)
	}
}

// TestFileValues: YAML's lists, numbers and nulls load as the same
// values written as strings would.
func TestFileValues(t *testing.T) {
	dir, e := setup(t)
	path := writeFile(t, dir, "Defaults:\n  permanent_exit: [3, 64]\n  timeout: ~\n  max_attempts: 5\n")
	c, err := Load(path, e.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Defaults.PermanentExit, []int{3, 64}) || c.Defaults.Timeout != 0 || c.Defaults.MaxAttempts != 5 {
		t.Errorf("Load() = %+v", c.Defaults)
	}
}

func TestFoundInXDGConfigHome(t *testing.T) {
	dir, e := setup(t)
	if err := os.MkdirAll(filepath.Join(dir, "jobq"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "jobq"), "work:\n  concurrency: 4\n")
	c, err := Load("", e.lookup, nil)
	if err != nil || c.Work.Concurrency != 4 {
		t.Fatalf("Load() = %+v, %v; want concurrency 4 from $XDG_CONFIG_HOME/jobq/config.yaml", c, err)
	}
	// Without XDG_CONFIG_HOME: ~/.config/jobq/config.yaml.
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".config", "jobq"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, ".config", "jobq"), "work:\n  concurrency: 5\n")
	c, err = Load("", env{"HOME": home}.lookup, nil)
	if err != nil || c.Work.Concurrency != 5 {
		t.Fatalf("Load() = %+v, %v; want concurrency 5 from ~/.config/jobq/config.yaml", c, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, body, env, want string
	}{
		{"malformed", "db: x\ndefaults: [", "", "config.yaml: yaml: line 2: did not find expected node content"},
		{"tab", "work:\n\tlease: 1m\n", "", "yaml: line 2: found character that cannot start any token"},
		{"section as value", "work: 3\n", "", `unknown key "work"`},
		{"value as section", "db:\n  path: x\n", "", `unknown key "db.path"`},
		{"unknown key", "defaults:\n  max_attemps: 3\n", "", `unknown key "defaults.max_attemps"`},
		{"bad duration", "defaults:\n  timeout: soon\n", "", `config defaults.timeout: invalid duration "soon"`},
		{"bad int", "work:\n  concurrency: many\n", "", `config work.concurrency: invalid value "many"`},
		{"zero attempts", "defaults:\n  max_attempts: 0\n", "", "config defaults.max_attempts"},
		{"bad codes", "defaults:\n  permanent_exit: \"0\"\n", "", "config defaults.permanent_exit"},
		{"short lease", "", "JOBQ_WORK_LEASE=100ms", "JOBQ_WORK_LEASE (config work.lease): 100ms is too short"},
		{"bad env", "", "JOBQ_BUSY_TIMEOUT=x", `JOBQ_BUSY_TIMEOUT (config busy_timeout): invalid duration "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, e := setup(t)
			path := writeFile(t, dir, tt.body)
			if k, v, ok := strings.Cut(tt.env, "="); ok {
				e[k] = v
			}
			_, err := Load(path, e.lookup, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() error = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		dir, e := setup(t)
		if _, err := Load(filepath.Join(dir, "nope.yaml"), e.lookup, nil); err == nil {
			t.Fatal("Load(missing) succeeded")
		}
	})
}

func TestDefaultDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  env
		want string
	}{
		{env{"XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/state/jobq/jobq.db"},
		{env{"HOME": "/home/u"}, "/home/u/.local/state/jobq/jobq.db"},
		// A relative XDG_STATE_HOME is ignored, as the XDG spec says.
		{env{"XDG_STATE_HOME": "state", "HOME": "/home/u"}, "/home/u/.local/state/jobq/jobq.db"},
		{env{}, ""},
	}
	for _, tt := range tests {
		got, err := DefaultDB(tt.env.lookup)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("DefaultDB(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// FuzzLoad feeds config files to Load: whatever the file says, Load
// returns a usable config or one line of error, and never panics.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", "db: /x.db\n", "defaults:\n  max_attempts: 5\n  permanent_exit: [3, 64]\n",
		"work: {concurrency: 2, lease: 1m}\n", "defaults: [", "1: 2\n", "work:\n  lease: 0\n",
		"retention:\n  dead: 1w\n", "defaults:\n  timeout: ~\n", "a:\n  b:\n    c: 1\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, env{"HOME": dir}.lookup, nil)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			return
		}
		if c.Defaults.MaxAttempts < 1 || c.Work.Concurrency < 1 || c.Work.Lease < time.Second ||
			c.Defaults.Timeout < 0 || c.Work.OutputLimit < 0 {
			t.Errorf("Load accepted an unusable config: %+v", c)
		}
		for _, code := range c.Defaults.PermanentExit {
			if code < 1 || code > 255 {
				t.Errorf("permanent exit code %d out of range", code)
			}
		}
	})
}

// TestNoConfigDirectory: a plain file where $XDG_CONFIG_HOME/jobq would be
// holds no config file: the defaults apply, as when nothing is there.
func TestNoConfigDirectory(t *testing.T) {
	dir, e := setup(t)
	if err := os.WriteFile(filepath.Join(dir, "jobq"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", e.lookup, nil)
	if err != nil || c.Work.Concurrency != 1 {
		t.Fatalf("Load() = %+v, %v; want the defaults", c, err)
	}
}
