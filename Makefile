# CRIU 4.1.1 with built-in checkpoint encryption: a patch set and an in-tree
# module over the pristine upstream tarball.  See README.md.

# Debian's python3 (with google.protobuf, yaml, asciidoc) before any other
export PATH := /usr/sbin:/usr/bin:/sbin:/bin:$(PATH)

TREE	:= build/criu
BIN	:= build/bin
PYTHON	:= /usr/bin/python3
JOBS	?= $(shell nproc)
CRIU_MAKE := $(MAKE) -C $(TREE) -j$(JOBS) PYTHON=$(PYTHON)
PREFIX	?= /usr/local

all: build
.PHONY: all

deps:
	@scripts/deps.sh
.PHONY: deps

tree: deps
	@scripts/tree.sh sync
.PHONY: tree

build: tree
	@$(CRIU_MAKE) criu lib crit
	@$(CRIU_MAKE) -C test/zdtm all >build/zdtm-build.log 2>&1 || \
		{ tail -20 build/zdtm-build.log; exit 1; }
	@scripts/entry-points.sh
.PHONY: build

# Turn the commits of build/criu on top of the pristine tree into patches/.
patches:
	@scripts/tree.sh patches
.PHONY: patches

# Check that patches/ on the pristine tarball gives exactly build/criu.
# The series for CRIU's maintainers, with the new files: build/series/
series:
	@scripts/series.sh
.PHONY: series

verify-tree:
	@scripts/tree.sh verify
.PHONY: verify-tree

demo: build
	@scripts/demo.sh
.PHONY: demo

test: build
	@scripts/run-tests.sh
.PHONY: test

# Encrypted checkpoints through Podman and runc (installs them, and this
# criu under /usr/local): scripts/test-engine.sh
# zdtm's iterative modes (--pre, --snaps, --dedup), plain and encrypted, in
# a qemu guest with soft-dirty tracking: scripts/test-guest.sh
test-guest: build
	@scripts/test-guest.sh
.PHONY: test-guest

test-engine: build
	@scripts/test-engine.sh
.PHONY: test-engine

# The module's unit tests and the benchmark's primitives, built against
# build/criu (test/unit/module.mk)
include test/unit/module.mk
unit: $(UNIT)/crypt-unit $(UNIT)/crypt-unit-asan $(UNIT)/primitives $(UNIT)/vectors
.PHONY: unit

# The benchmark of issue 7 (bench/README.md): results in bench/results/.
# BENCH_QUICK=1 for a short run; BENCH_NO_BUILD=1 measures the binary
# already built, without building first.
bench: $(if $(BENCH_NO_BUILD),,build)
	@bench/run.sh
.PHONY: bench

# The migration benchmark alone (also part of make bench): bench/results/migrate.md
bench-migrate: $(if $(BENCH_NO_BUILD),,build)
	@bench/migrate.sh
.PHONY: bench-migrate

install: build
	@$(CRIU_MAKE) SKIP_PIP_INSTALL=1 PREFIX=$(PREFIX) install-criu install-man install-lib
	@scripts/entry-points.sh install $(PREFIX)
.PHONY: install

clean:
	rm -rf $(TREE) $(BIN)
.PHONY: clean
