#!/bin/sh
# install-deps.sh installs the baselines the benchmarks compare jobq with
# that Go cannot fetch: the sqlite3 command-line tool and task-spooler (tsp,
# called ts upstream), and Debian's PostgreSQL server, from which the
# PostgreSQL benchmarks start a throwaway server of their own (pgtest; the
# package's own cluster is not used: if apt started it, it is stopped). It
# is idempotent: with all three there it does nothing, so `make bench`
# calls it every time. Without apt-get, or without root and
# sudo, it says what to install and exits 0: the benchmarks that need a
# missing tool then skip, saying the same.
set -eu

missing=
if ! command -v sqlite3 >/dev/null 2>&1; then
	missing="$missing sqlite3"
fi
have_tsp=
for name in tsp ts; do
	# A ts from moreutils is a timestamp filter, not task-spooler; the
	# spooler names itself in its -V output.
	if command -v "$name" >/dev/null 2>&1 &&
		"$name" -V </dev/null 2>&1 | grep -qi spooler; then
		have_tsp=1
	fi
done
if [ -z "$have_tsp" ]; then
	missing="$missing task-spooler"
fi
have_pg=
for initdb in /usr/lib/postgresql/*/bin/initdb; do
	[ -x "$initdb" ] && have_pg=1
done
if [ -z "$have_pg" ]; then
	missing="$missing postgresql"
fi
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing:$missing; install them by hand, or their benchmarks are skipped" >&2
	exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		echo "install-deps: missing:$missing; as root: apt-get install -y$missing" >&2
		exit 0
	fi
fi
echo "install-deps: installing$missing with apt-get" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
if [ -z "$have_pg" ] && command -v pg_lsclusters >/dev/null 2>&1; then
	for cluster in $(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}'); do
		$sudo pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop || true
	done
fi
