#!/usr/bin/env bash
# Checks the unit files in this directory with `systemd-analyze verify`, and
# that the template differs from jobq-worker.service only where it must.
# Skips (exit 0) where systemd-analyze is not installed.
#
#   docs/systemd/verify.sh [JOBQ_BINARY]
#
# verify wants ExecStart's program to exist, so the units are checked with
# /usr/local/bin/jobq replaced by JOBQ_BINARY (default: ./jobq from `make
# build`, else /usr/local/bin/jobq, else /bin/true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The template is the plain unit plus an instance: only its header comments,
# Description and ExecStart may differ.
settings() { grep -v -e '^#' -e '^Description=' -e '^ExecStart=' "$1"; }
if ! diff <(settings "$here/jobq-worker.service") <(settings "$here/jobq-worker@.service"); then
	echo "verify.sh: jobq-worker@.service and jobq-worker.service differ (above)" >&2
	exit 1
fi

if ! command -v systemd-analyze >/dev/null; then
	echo "verify.sh: systemd-analyze not found; skipping systemd-analyze verify" >&2
	exit 0
fi

bin=${1:-}
if [[ -z $bin ]]; then
	for b in "$here/../../jobq" /usr/local/bin/jobq /bin/true; do
		if [[ -x $b ]]; then bin=$(cd "$(dirname "$b")" && pwd)/$(basename "$b"); break; fi
	done
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for f in jobq-worker.service jobq-worker@.service; do
	sed "s#/usr/local/bin/jobq#$bin#" "$here/$f" >"$dir/$f"
done

# verify exits 0 on an unknown key or a bad value ("..., ignoring"), so any
# output at all is a failure.
out=$(cd "$dir" && systemd-analyze verify ./jobq-worker.service ./jobq-worker@mail.service 2>&1) || {
	printf '%s\n' "$out" >&2
	exit 1
}
if [[ -n $out ]]; then
	printf '%s\n' "$out" >&2
	echo "verify.sh: systemd-analyze verify complained (above)" >&2
	exit 1
fi
echo "verify.sh: jobq-worker.service and jobq-worker@mail.service verified (ExecStart: $bin)"
