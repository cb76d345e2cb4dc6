package cmd

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/jobq/jobq/internal/queue"
)

// filterFlags pick jobs the same way for list, retry and purge, so that an
// operator can look at a wave of failures with list and then act on
// exactly that wave by changing the command's name.
type filterFlags struct {
	States    string
	Queues    []string
	ExitCodes string
	Error     string
	Since     string
	OlderThan durationFlag
}

func (ff *filterFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&ff.States, "state", "", "only jobs in these `states`, comma-separated")
	fl.StringSliceVarP(&ff.Queues, "queue", "q", nil, "only jobs in these `queues`")
	fl.StringVar(&ff.ExitCodes, "exit-code", "", "only jobs whose last attempt exited with one of these `codes`, e.g. 1,64-78")
	fl.StringVar(&ff.Error, "error", "", "only jobs whose last error contains `text`, e.g. 'timed out' or SIGKILL")
	fl.StringVar(&ff.Since, "since", "", "only jobs that ended at or after `time` (2h: two hours ago); a job not ended counts from its creation")
	fl.Var(&ff.OlderThan, "older-than", "only jobs that ended more than this long ago; a job not ended counts from its creation")
}

// given reports whether any filter flag was given, --state aside.
func (ff *filterFlags) given() bool {
	return len(ff.Queues) > 0 || ff.ExitCodes != "" || ff.Error != "" || ff.Since != "" || ff.OlderThan.Given
}

// filter checks the flags and returns the filter they make at now; bad
// input is a usage error.
func (ff *filterFlags) filter(now time.Time) (queue.JobFilter, error) {
	f := queue.JobFilter{Queues: ff.Queues, Error: ff.Error, Now: now}
	var err error
	if ff.States != "" {
		if f.States, err = queue.ParseStates(ff.States); err != nil {
			return f, &UsageError{Err: err}
		}
	}
	for _, q := range ff.Queues {
		if err := queue.ValidateQueue(q); err != nil {
			return f, &UsageError{Err: err}
		}
	}
	if f.ExitCodes, err = queue.ParseExitCodes(ff.ExitCodes); err != nil {
		return f, &UsageError{Err: err}
	}
	if ff.Since != "" {
		if f.Since, err = queue.ParsePast(ff.Since, now); err != nil {
			return f, usageErrorf("--since: %v", err)
		}
	}
	if ff.OlderThan.Given {
		f.Before = now.Add(-ff.OlderThan.D)
	}
	return f, nil
}
