# Entry points (see README):
#   make demo    set up everything, boot the firmware, show it under GDB
#   make test    set up everything, run the whole suite (tox: tests + lint)
#   make debug   QEMU paused + an interactive GDB attached to it (mm commands loaded)
#   make bench   the performance numbers (JSON on the last line)
#   make iso     a bootable GRUB image (build/mmverify.iso), the hardware path
#   make mutate       mutation testing: a fixed sample of the firmware's mutants
#                     judged by the suite (report in build/mutate/html/)
#   make mutate-diff  only the functions changed since BASE (default origin/main)
#   make test-iso     boot, PMM and process tests booted from GRUB images
#   make test-matrix  the suite on several CPU models (features they lack are skipped)
#   make mutate-python  mutation score of the harness's pure decoders (mutmut, no QEMU)
# Setup installs what is missing: Debian/Ubuntu packages with apt-get (sudo
# when not root), Python packages into .venv/ from PyPI, and (for the Linux
# target's tests) the i386 architecture and Debian's i386 kernel and busybox
# downloaded into build/linux/.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# chromium: tests/suite/test_mutate_html.py loads the mutation report headless.
APT_PACKAGES := qemu-system-x86 qemu-utils gdb cmake ninja-build \
                grub-pc-bin grub-common xorriso mtools tmux chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps venv build linux-assets test demo debug bench lint clean iso test-iso test-matrix \
        mutate mutate-diff mutate-ci mutate-python

all: build

# Only what is missing, so a ready machine pays nothing.  qemu-system-x86's
# recommended GUI packages are not needed for -display none.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The Linux target (tests/linux) boots Debian's own i386 kernel and busybox:
	@# dpkg needs the i386 architecture and apt its package lists.  Nothing is
	@# installed on the host; `linux-assets` downloads the two packages.
	@update=""; \
	if [ "$$(dpkg --print-architecture)" != i386 ] && \
	   ! dpkg --print-foreign-architectures | grep -qx i386; then \
	  echo "adding the i386 architecture (for the Linux target)"; \
	  $(SUDO) dpkg --add-architecture i386 && update=1; \
	fi; \
	apt-cache show linux-image-686:i386 >/dev/null 2>&1 || update=1; \
	if [ -n "$$update" ]; then $(SUDO) apt-get update -qq; fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

venv: $(VENV)/.installed

build: deps venv
	$(PY) -m harness build

# Debian's i386 kernel + busybox in build/linux/ (cached; a ready machine
# pays one apt-cache call), our probe program and the initramfs.
linux-assets: deps
	$(PYTHON) -m harness.targets.linux.assets

test: deps venv linux-assets
	$(VENV)/bin/tox

demo: build
	$(PY) -m harness demo

debug: build
	$(PY) -m harness debug

bench: build
	$(PY) -m harness bench

iso: build
	$(PY) -m harness iso

# Mutation testing (harness/mutate/): the score must stay at 0.95 or above.
# The sample is fixed (seed) so runs compare; MUTATE_SAMPLE=0 judges every mutant.
MUTATE_SAMPLE ?= 200
MUTATE_SEED ?= 1
MUTATE_FAIL_UNDER ?= 0.95
BASE ?= origin/main
MUTATE := $(PY) -m harness mutate --run --html build/mutate/html

mutate: build
	$(MUTATE) $(if $(filter 0,$(MUTATE_SAMPLE)),,--sample $(MUTATE_SAMPLE) --seed $(MUTATE_SEED)) \
	  --fail-under $(MUTATE_FAIL_UNDER)

mutate-diff: build
	$(MUTATE) --diff $(BASE) --fail-under $(MUTATE_FAIL_UNDER)

# CI: the change itself (the last commit; a merge's whole branch), then a
# small fixed sample of everything (on 2026-12-01, after the struct mm split
# and the frame caches moved it: 14 killed, 2 stillborn, no survivor), each at
# 0.95, so the score cannot fall unseen.
MUTATE_CI_FLOOR ?= $(MUTATE_FAIL_UNDER)
mutate-ci: build
	$(MUTATE) --diff HEAD~1 --sample 20 --seed 1 --fail-under $(MUTATE_FAIL_UNDER)
	$(MUTATE) --sample 16 --seed 7 --fail-under $(MUTATE_CI_FLOOR)

PYTEST := $(VENV)/bin/pytest -n auto
MATRIX_CPUS := qemu32 pentium3 max

test-iso: build
	$(PYTEST) --boot iso tests/boot tests/pmm tests/process

# Every CPU model runs the whole suite; a 486 (no TSC, PGE, PSE36...) the
# boot, memory-manager and process tests.
test-matrix: build
	@set -e; for cpu in $(MATRIX_CPUS); do echo "== cpu $$cpu"; $(PYTEST) -q --cpu $$cpu; done
	@echo "== cpu 486"; $(PYTEST) -q --cpu 486 tests/boot tests/pmm tests/vmm tests/process

# Mutation testing of the harness's pure decoders (mutmut, unit tests only;
# mutmut's copy stays in build/pymut/).  Fails below a score of 0.9.
mutate-python: venv
	$(PY) -m harness mutate python

lint: venv
	$(VENV)/bin/tox -e lint

clean:
	rm -rf build artifacts .tox
