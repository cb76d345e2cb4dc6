// Flag values of jobq's own types, and how a bad flag value is reported.
//
// Each value remembers whether its flag was given, so that options structs
// hold plain values and never ask cobra which flags changed. Flags that
// set a config key are bound to it (config.BindFlag), and their layering
// over the config is config.Load's alone.

package cmd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/jobq/jobq/internal/queue"
)

// durationFlag is the value of every duration flag: 90s, 15m, 1h30m, 2d,
// 1w, as queue.ParseDuration reads them; help shows it as "duration".
type durationFlag struct {
	D     time.Duration
	Given bool
}

func (d *durationFlag) Set(s string) error {
	v, err := queue.ParseDuration(s)
	if err != nil {
		return err
	}
	d.D, d.Given = v, true
	return nil
}

func (d *durationFlag) String() string {
	if !d.Given {
		return ""
	}
	return formatDuration(d.D)
}

func (d *durationFlag) Type() string { return "duration" }

// intFlag is a whole number whose absence means "the configured default".
type intFlag struct {
	N     int
	Given bool
}

func (f *intFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	f.N, f.Given = n, true
	return nil
}

func (f *intFlag) String() string {
	if !f.Given {
		return ""
	}
	return strconv.Itoa(f.N)
}

func (f *intFlag) Type() string { return "int" }

// stringFlag is a string whose absence differs from an empty value.
type stringFlag struct {
	S     string
	Given bool
}

func (f *stringFlag) Set(s string) error {
	f.S, f.Given = s, true
	return nil
}

func (f *stringFlag) String() string { return f.S }
func (f *stringFlag) Type() string   { return "string" }

// jobIDFlag is one job ID; 0 when not given (IDs start at 1).
type jobIDFlag int64

func (f *jobIDFlag) Set(s string) error {
	id, err := parseJobID(s)
	if err != nil {
		return err
	}
	*f = jobIDFlag(id)
	return nil
}

func (f *jobIDFlag) String() string {
	if *f == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*f), 10)
}

func (f *jobIDFlag) Type() string { return "ID" }

// flagError turns what pflag says of a bad flag value into one plain
// sentence about the user's input: `--priority: "abc" is not a whole
// number` rather than `invalid argument "abc" for "-p, --priority" flag:
// strconv.ParseInt: parsing "abc": invalid syntax`.
func flagError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	name, value, cause := "--"+bad.GetFlag().Name, bad.GetValue(), errors.Unwrap(bad)
	var num *strconv.NumError
	if !errors.As(cause, &num) {
		return fmt.Errorf("%s: %w", name, cause)
	}
	typ := bad.GetFlag().Value.Type()
	switch {
	case errors.Is(num.Err, strconv.ErrRange):
		return fmt.Errorf("%s: %q is out of range", name, value)
	case typ == "bool":
		return fmt.Errorf("%s: %q is not true or false", name, value)
	case strings.HasPrefix(typ, "float"):
		return fmt.Errorf("%s: %q is not a number", name, value)
	}
	return fmt.Errorf("%s: %q is not a whole number", name, value)
}
