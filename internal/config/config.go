// Package config reads jobq's settings: built-in defaults, then a YAML
// config file, then JOBQ_* environment variables (dots as underscores).
// Flags, which win over all of these, are the commands' business.
//
// It reads the file with yaml.v3 rather than through viper: viper links in
// net/http, crypto/tls and html/template, whose initialisation alone cost
// every jobq process, enqueue included, about 2 ms on the machines we
// measured (docs/performance.md), for a dozen flat keys.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jobq/jobq/internal/queue"
)

// Config is every setting jobq reads; config.example.yaml documents each.
type Config struct {
	DB          string // empty: DefaultDB
	BusyTimeout time.Duration
	Defaults    Defaults
	Work        Work
	Retention   Retention
}

// Defaults apply to jobs enqueued without the matching flag.
type Defaults struct {
	MaxAttempts   int
	Timeout       time.Duration
	Backoff       time.Duration
	MaxBackoff    time.Duration
	PermanentExit []int
}

// Work tunes the commands that run jobs (drain and work).
type Work struct {
	Concurrency int
	OutputLimit int
	KillGrace   time.Duration
	Lease       time.Duration
	Grace       time.Duration
}

// Retention says how long final jobs are kept.
type Retention struct {
	Succeeded time.Duration
	Dead      time.Duration
}

// defaults holds every key with its default, as config.example.yaml shows.
var defaults = map[string]string{
	"db":                      "",
	"busy_timeout":            "5s",
	"defaults.max_attempts":   "3",
	"defaults.timeout":        "0",
	"defaults.backoff":        "10s",
	"defaults.max_backoff":    "1h",
	"defaults.permanent_exit": "",
	"work.concurrency":        "1",
	"work.output_limit":       "1048576",
	"work.kill_grace":         "10s",
	"work.lease":              "30s",
	"work.grace":              "25s",
	"retention.succeeded":     "7d",
	"retention.dead":          "90d",
}

// Keys lists every key, sorted.
func Keys() []string {
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LookupEnv reads one environment variable, as os.LookupEnv does. The
// environment comes in through it, never from the process directly, so
// that callers (and tests running side by side) give each load its own.
type LookupEnv func(key string) (string, bool)

// Load reads the settings. file is the config file named by --config or
// JOBQ_CONFIG, which must exist; when empty, the first of
// $XDG_CONFIG_HOME/jobq/config.yaml and /etc/jobq/config.yaml that exists is
// read, if any. env gives the JOBQ_* variables, XDG_CONFIG_HOME and HOME.
func Load(file string, env LookupEnv) (*Config, error) {
	values := map[string]string{}
	if file == "" {
		file = findFile(env)
	}
	if file != "" {
		if err := readFile(file, values); err != nil {
			return nil, fmt.Errorf("config file %s: %v", file, err)
		}
	}
	for k := range defaults {
		name := "JOBQ_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if v, _ := env(name); v != "" {
			values[k] = v
		}
	}

	var c Config
	p := parser{values: values}
	c.DB = p.string("db")
	c.BusyTimeout = p.duration("busy_timeout")
	c.Defaults.MaxAttempts = p.int("defaults.max_attempts", 1)
	c.Defaults.Timeout = p.duration("defaults.timeout")
	c.Defaults.Backoff = p.duration("defaults.backoff")
	c.Defaults.MaxBackoff = p.duration("defaults.max_backoff")
	c.Defaults.PermanentExit = p.exitCodes("defaults.permanent_exit")
	c.Work.Concurrency = p.int("work.concurrency", 1)
	c.Work.OutputLimit = p.int("work.output_limit", 0)
	c.Work.KillGrace = p.duration("work.kill_grace")
	c.Work.Lease = p.duration("work.lease")
	c.Work.Grace = p.duration("work.grace")
	c.Retention.Succeeded = p.duration("retention.succeeded")
	c.Retention.Dead = p.duration("retention.dead")
	if p.err == nil && c.Work.Lease < time.Second {
		p.err = fmt.Errorf("config work.lease: %s is too short (at least 1s)", c.Work.Lease)
	}
	if p.err != nil {
		return nil, p.err
	}
	return &c, nil
}

// readFile puts the keys of a YAML config file into values, nested maps
// flattened to dotted keys. Unknown keys are refused, so that a typo does
// not go unnoticed.
func readFile(path string, values map[string]string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return errors.New(oneLine(err))
	}
	return flatten("", doc, values)
}

func flatten(prefix string, m map[string]any, values map[string]string) error {
	for k, v := range m {
		key := prefix + strings.ToLower(k)
		if sub, ok := v.(map[string]any); ok {
			if err := flatten(key+".", sub, values); err != nil {
				return err
			}
			continue
		}
		if _, ok := defaults[key]; !ok {
			return fmt.Errorf("unknown key %q (known: %s)", key, strings.Join(Keys(), ", "))
		}
		switch v := v.(type) {
		case nil:
		case []any: // permanent_exit: [3, 64]
			parts := make([]string, len(v))
			for i, e := range v {
				parts[i] = fmt.Sprint(e)
			}
			values[key] = strings.Join(parts, ",")
		default:
			values[key] = fmt.Sprint(v)
		}
	}
	return nil
}

// DefaultDB is where the queue lives when nothing says otherwise:
// $XDG_STATE_HOME/jobq/jobq.db, or ~/.local/state/jobq/jobq.db.
func DefaultDB(env LookupEnv) (string, error) {
	if dir, _ := env("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "jobq", "jobq.db"), nil
	}
	home, ok := env("HOME")
	if !ok || home == "" {
		return "", errors.New("no database path: HOME is not set; set --db or JOBQ_DB")
	}
	return filepath.Join(home, ".local", "state", "jobq", "jobq.db"), nil
}

func findFile(env LookupEnv) string {
	var candidates []string
	if dir, _ := env("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		candidates = append(candidates, filepath.Join(dir, "jobq", "config.yaml"))
	} else if home, _ := env("HOME"); home != "" {
		candidates = append(candidates, filepath.Join(home, ".config", "jobq", "config.yaml"))
	}
	candidates = append(candidates, "/etc/jobq/config.yaml")
	for _, c := range candidates {
		// A file we may not read is reported when read; a path that
		// cannot hold one (a plain file where a directory would be:
		// ENOTDIR) is as good as missing.
		if _, err := os.Stat(c); err == nil || errors.Is(err, fs.ErrPermission) {
			return c
		}
	}
	return ""
}

// parser reads typed values, keeping the first error.
type parser struct {
	values map[string]string
	err    error
}

// string is the value of key, or its default.
func (p *parser) string(key string) string {
	if v, ok := p.values[key]; ok {
		return v
	}
	return defaults[key]
}

func (p *parser) fail(key string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("config %s: %w", key, err)
	}
}

func (p *parser) duration(key string) time.Duration {
	d, err := queue.ParseDuration(p.string(key))
	if err != nil {
		p.fail(key, err)
	}
	return d
}

func (p *parser) int(key string, min int) int {
	s := p.string(key)
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		p.fail(key, fmt.Errorf("invalid value %q (a whole number, at least %d)", s, min))
	}
	return n
}

func (p *parser) exitCodes(key string) []int {
	codes, err := queue.ParseExitCodes(p.string(key))
	if err != nil {
		p.fail(key, err)
	}
	return codes
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
