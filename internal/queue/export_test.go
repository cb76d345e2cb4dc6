package queue

import "time"

// SetGroupCommit makes r take a job that ran less than short as short
// (see shortJob), so that a test can make it claim ahead whatever the
// speed of the machine, and hold outcomes for a commit up to delay (see
// outcomeDelay); zero leaves a value as it is.
func (r *Runner) SetGroupCommit(short, delay time.Duration) {
	r.shortJob, r.outcomeDelay = short, delay
}

// SelfCPU is the user and system CPU this process has used so far, its
// children's excluded (selfCPU).
var SelfCPU = selfCPU
