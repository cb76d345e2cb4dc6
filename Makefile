# jobq's tasks. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED := 1
# One static binary: no dynamic loader at every start (about 2 ms a process
# on our VMs, docs/performance.md), nothing to install beside it. The tags
# keep glibc's NSS and dlopen, which cannot work statically, out of it.
TAGS := netgo,osusergo,sqlite_omit_load_extension
LDFLAGS := -s -w -linkmode external -extldflags -static

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build ./jobq, statically linked
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o jobq .

# -timeout: cmd runs its scenarios twice (SQLite, then PostgreSQL), past
# go test's 10-minute default under -race on a loaded 2-vCPU VM.
.PHONY: test
test: ## run every test with the race detector (the first run compiles SQLite: about a minute)
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 30m ./...

.PHONY: demo
demo: build ## run the main job on a throwaway queue in a temporary folder
	@set -euo pipefail; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	export JOBQ_DB=$$dir/jobq.db PATH=$$PWD:$$PATH; \
	run() { printf '\n$$ %s\n' "$$*"; "$$@"; }; \
	echo "A throwaway queue in $$JOBQ_DB"; \
	run jobq enqueue 'echo hello from jobq'; \
	run jobq enqueue -q reports -p 5 -- date -u '+report for %F'; \
	run jobq enqueue --max-attempts 2 --backoff 0 'echo "disk full" >&2; exit 1'; \
	printf '%s\n' 'sleep 0.1' 'sleep 0.2' | { printf '\n$$ printf ... | jobq enqueue --batch -q bulk\n'; jobq enqueue --batch -q bulk; }; \
	run jobq list; \
	run jobq drain -c 2 || echo "(drain exited $$?: a job went dead, as planned)"; \
	run jobq list --state dead; \
	run jobq show 3; \
	run jobq logs 2

.PHONY: lint
lint: ## gofmt and go vet (bench/river too, a module of its own that only make bench builds)
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt: the files above need formatting'; exit 1; }
	$(GO) vet ./...
	cd bench/river && $(GO) vet -tags $(TAGS) ./...

.PHONY: fuzz
fuzz: ## run each fuzz test for FUZZTIME (default 10s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} $$pkg || exit 1; \
	  done; \
	done

.PHONY: bench
bench: build ## measure speed against sqlite3, xargs -P, task-spooler and River (docs/performance.md)
	bash bench/install-deps.sh
	JOBQ_BENCH_BIN=$(CURDIR)/jobq $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./bench/
	@# jobq's store beside River, in-process: a module of its own (bench/river/go.mod), so River stays out of jobq's go.mod.
	@# Its tests (the harness's own checks) run first, in the same go test.
	cd bench/river && $(GO) test -tags $(TAGS) -bench . -benchtime 1x -count 1 -timeout 30m .

.PHONY: generate
generate: ## write the completion scripts (completions/) and man pages (docs/man/) from the command tree
	$(GO) run ./tools/generate -man docs/man -completions completions

.PHONY: verify
verify: lint ## lint, and check that go.mod is tidy and the generated files are up to date
	$(GO) mod tidy -diff
	@set -euo pipefail; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) run ./tools/generate -man "$$dir/man" -completions "$$dir/completions"; \
	diff -r "$$dir/man" docs/man && diff -r "$$dir/completions" completions || \
	{ echo 'generated files are out of date: run make generate and commit them'; exit 1; }

# Where make install puts things: PREFIX=/usr/local by default; DESTDIR
# for packaging (make install DESTDIR=/tmp/pkg PREFIX=/usr).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share

.PHONY: install
install: ## install ./jobq (make build first), its man pages and completions under PREFIX (/usr/local), in DESTDIR if set
	@test -x jobq || { echo 'make install: no ./jobq: run make build first (as yourself, not under sudo)'; exit 1; }
	install -D -m 0755 jobq "$(DESTDIR)$(BINDIR)/jobq"
	install -d -m 0755 "$(DESTDIR)$(MANDIR)/man1"
	install -m 0644 docs/man/*.1 "$(DESTDIR)$(MANDIR)/man1/"
	install -D -m 0644 completions/jobq.bash "$(DESTDIR)$(DATADIR)/bash-completion/completions/jobq"
	install -D -m 0644 completions/_jobq "$(DESTDIR)$(DATADIR)/zsh/site-functions/_jobq"
	install -D -m 0644 completions/jobq.fish "$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/jobq.fish"
