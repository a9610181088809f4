# Hashtrend: every target installs what it needs first (`deps`), so a fresh Debian machine needs only make.
SHELL := /bin/bash
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
SWIFT_JOBS ?= $(shell nproc)

DEB_PKGS := pkg-config librdkafka-dev libcurl4-openssl-dev libsystemd-dev libzstd-dev libsnappy-dev \
            kcat systemd docker-compose
PIP_PKGS := duckdb pyarrow fastparquet hdfs pyyaml pytest

export HASHTREND_PYTHON := $(PY)
export HASHTREND_SHARED := $(abspath $(CURDIR)/../shared)

.PHONY: all deps build release test unit pytest e2e chaos bench install uninstall clean demo

all: build

deps: $(VENV)/.stamp
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.stamp:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PIP_PKGS)
	touch $@

build: deps
	$(SWIFT) build -j $(SWIFT_JOBS)

release: deps
	$(SWIFT) build -c release -j $(SWIFT_JOBS)

# Unit and integration tests (Swift Testing) build the binaries first: the integration tests start them.
# --no-parallel: the integration tests block on child processes, which would starve the async tests of
# the two-thread cooperative pool on a 2-core machine.
test: deps
	$(SWIFT) build -j $(SWIFT_JOBS) --build-tests
	$(SWIFT) test --skip-build --no-parallel
	@if ls tests/*.py >/dev/null 2>&1; then $(PY) -m pytest -q tests --ignore=tests/e2e; fi
	@$(MAKE) --no-print-directory e2e

# The whole pipeline as separate processes under faults (kills, broker outage, request errors, latency,
# WebHDFS failures, late and malformed input) against the DuckDB oracle (docs/e2e.md). E2E_SEED=N
# reproduces a run; E2E_SCENARIOS=a,b picks scenarios. e2e is CI-sized; chaos is larger and longer.
# make test's run has a fixed seed, so a red CI run reproduces; chaos draws one (printed) unless E2E_SEED is set.
e2e: deps
	$(SWIFT) build -j $(SWIFT_JOBS)
	E2E_SEED=$${E2E_SEED:-1} $(PY) tests/e2e/run_e2e.py --size ci

chaos: deps
	$(SWIFT) build -j $(SWIFT_JOBS)
	$(PY) tests/e2e/run_e2e.py --size chaos

bench: deps
	$(SWIFT) build -c release -j $(SWIFT_JOBS)
	@if [ -x bench/run ]; then bench/run; fi

# The whole pipeline on this machine: embedded broker, ingestd (synthetic), trendd, sinkd (Parquet under
# ./demo-data/) and the live table; q quits and stops everything (docs/demo.md). DEMO_SOURCE=replay
# DEMO_FILE=posts.jsonl replays a file instead.
demo: deps release
	.build/release/hashtrend demo

SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/hashtrend

# Binaries, units, env files (an edited env file is kept; the new one lands beside it as .env.new), docs.
# INSTALL_FROM=.build/debug NOBUILD=1 installs already-built binaries (the install test uses it).
INSTALL_FROM ?= .build/release
install: $(if $(NOBUILD),,release)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/hashtrend $(DESTDIR)$(DOCDIR)
	for b in ingestd trendd sinkd hashtrend; do install -m 0755 $(INSTALL_FROM)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for u in systemd/*.service systemd/*.target; do \
	  sed 's|/usr/local/bin/|$(PREFIX)/bin/|; s|/usr/local/share/doc/hashtrend|$(DOCDIR)|' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	for e in etc/hashtrend/*.env; do t=$(DESTDIR)$(SYSCONFDIR)/hashtrend/$$(basename $$e); \
	  if [ -e $$t ] && ! cmp -s $$e $$t; then install -m 0644 $$e $$t.new; else install -m 0644 $$e $$t; fi; done
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

uninstall:
	for b in ingestd trendd sinkd hashtrend; do rm -f $(DESTDIR)$(PREFIX)/bin/$$b; done
	for u in systemd/*.service systemd/*.target; do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	for e in etc/hashtrend/*.env; do t=$(DESTDIR)$(SYSCONFDIR)/hashtrend/$$(basename $$e); \
	  if cmp -s $$e $$t; then rm -f $$t; fi; rm -f $$t.new; done
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf .build $(VENV)
