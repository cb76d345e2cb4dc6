// Package config reads jobq's settings with viper: built-in defaults, then
// a YAML config file, then JOBQ_* environment variables (dots as
// underscores), then the flags bound to keys, each layer winning over the
// ones before it. It is the only package that imports viper.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/jobq/jobq/internal/queue"
)

// Config is every setting jobq reads; config.example.yaml documents each.
type Config struct {
	DB          string // empty: DefaultDB
	BusyTimeout time.Duration
	Defaults    Defaults
	Work        Work
	Retention   Retention

	sources sources // which layer set each key
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

// flagKey is the annotation that binds a flag to its key.
const flagKey = "jobq_config_key"

// BindFlag makes flag set key: given on the command line, it wins over
// the environment, the file and the default. An unknown key is a bug, and
// panics.
func BindFlag(flag *pflag.Flag, key string) {
	if _, ok := defaults[key]; !ok {
		panic("config: BindFlag to unknown key " + key)
	}
	if flag.Annotations == nil {
		flag.Annotations = map[string][]string{}
	}
	flag.Annotations[flagKey] = []string{key}
}

// BoundKey is the key flag was bound to by BindFlag, or "".
func BoundKey(flag *pflag.Flag) string {
	if keys := flag.Annotations[flagKey]; len(keys) == 1 {
		return keys[0]
	}
	return ""
}

// EnvName is the variable that sets key: JOBQ_ and the key in capitals,
// dots as underscores (JOBQ_DEFAULTS_MAX_ATTEMPTS).
func EnvName(key string) string {
	return "JOBQ_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load reads the settings. file is the config file named by --config or
// JOBQ_CONFIG, which must exist; when empty, the first of
// $XDG_CONFIG_HOME/jobq/config.yaml and /etc/jobq/config.yaml that exists is
// read, if any. env gives the JOBQ_* variables, XDG_CONFIG_HOME and HOME.
// flags (may be nil) are the command's flags, some bound to keys by
// BindFlag.
//
// viper layers them, flag > env > file > default, for every key at once.
// Its own environment layer reads the process's environment (os.Getenv),
// which tests running side by side cannot each have: the variables read
// through env are merged over the file's values instead, which gives the
// same precedence. An empty variable counts as unset.
func Load(file string, env LookupEnv, flags *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	src := sources{flags: map[string]string{}, env: map[string]string{}, file: map[string]bool{}}
	if file == "" {
		file = findFile(env)
	}
	if file != "" {
		if err := readFile(v, file); err != nil {
			return nil, fmt.Errorf("config file %s: %v", file, err)
		}
		// Before any default is set, v holds what the file alone says.
		// An unknown key is refused, so that a typo does not go unnoticed.
		for _, k := range v.AllKeys() {
			if _, ok := defaults[k]; !ok {
				return nil, fmt.Errorf("config file %s: unknown key %q (known: %s)", file, k, strings.Join(Keys(), ", "))
			}
			src.file[k] = true
		}
		src.path = file
	}
	fromEnv := map[string]any{}
	for k, def := range defaults {
		v.SetDefault(k, def)
		if val, _ := env(EnvName(k)); val != "" {
			setNested(fromEnv, k, val)
			src.env[k] = EnvName(k)
		}
	}
	if err := v.MergeConfigMap(fromEnv); err != nil {
		return nil, err
	}
	if flags != nil {
		var err error
		flags.VisitAll(func(fl *pflag.Flag) {
			keys := fl.Annotations[flagKey]
			if len(keys) != 1 || err != nil {
				return
			}
			err = v.BindPFlag(keys[0], fl)
			if fl.Changed {
				src.flags[keys[0]] = "--" + fl.Name
			}
		})
		if err != nil {
			return nil, err
		}
	}

	c := Config{sources: src}
	p := parser{v: v, src: src}
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
		p.fail("work.lease", fmt.Errorf("%s is too short (at least 1s)", c.Work.Lease))
	}
	if p.err != nil {
		return nil, p.err
	}
	return &c, nil
}

// setNested puts value at a dotted key in nested maps, the shape in which
// viper keeps a file's values.
func setNested(m map[string]any, key string, value any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = value
}

// readFile reads a YAML config file into v. jobq finds the file itself
// rather than by viper's search, which knows neither the XDG_CONFIG_HOME
// given through env nor that a file named by --config must exist.
func readFile(v *viper.Viper, path string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(body)); err != nil {
		var parse viper.ConfigParseError
		if errors.As(err, &parse) {
			err = parse.Unwrap() // "yaml: line 2: ...", without viper's preamble
		}
		return errors.New(oneLine(err))
	}
	return nil
}

// Error is a bad value, named by where it came from: a flag by its name,
// anything else by its key.
type Error struct {
	Key    string
	Source string // as Config.Source says
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.FromFlag():
		return fmt.Sprintf("%s: %v", e.Source, e.Err)
	case strings.HasPrefix(e.Source, "JOBQ_"):
		// Name what the user set, not only the key it sets.
		return fmt.Sprintf("%s (config %s): %v", e.Source, e.Key, e.Err)
	}
	return fmt.Sprintf("config %s: %v", e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// FromFlag reports whether the bad value was given on the command line.
func (e *Error) FromFlag() bool { return strings.HasPrefix(e.Source, "--") }

// Source says where key's value came from: its flag ("--db"), its
// variable ("JOBQ_DB"), "config file PATH" or "default".
func (c *Config) Source(key string) string { return c.sources.of(key) }

// sources remembers which layer set each key.
type sources struct {
	flags map[string]string // key: "--flag"
	env   map[string]string // key: "JOBQ_KEY"
	file  map[string]bool
	path  string
}

func (s sources) of(key string) string {
	switch {
	case s.flags[key] != "":
		return s.flags[key]
	case s.env[key] != "":
		return s.env[key]
	case s.file[key]:
		return "config file " + s.path
	}
	return "default"
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

// parser reads typed values from viper, keeping the first error.
type parser struct {
	v   *viper.Viper
	src sources
	err error
}

// string is the value of key as text: a YAML list ([3, 64]) as its
// elements joined by commas, a YAML null as the default.
func (p *parser) string(key string) string {
	switch v := p.v.Get(key).(type) {
	case nil:
		return defaults[key]
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

func (p *parser) fail(key string, err error) {
	if p.err == nil {
		p.err = &Error{Key: key, Source: p.src.of(key), Err: err}
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
