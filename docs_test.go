package main

import (
	"os/exec"
	"testing"
)

// TestAlertRules checks docs/prometheus/alerts.yml with promtool, and runs
// its unit tests (docs/prometheus/alerts_test.yml), in which each alert
// fires on a synthetic series, or stays quiet where it should.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
	}
	for _, args := range [][]string{
		{"check", "rules", "docs/prometheus/alerts.yml"},
		{"test", "rules", "docs/prometheus/alerts_test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
