# Entry points (see README):
#   make demo    set up everything, boot the firmware, show it under GDB
#   make test    set up everything, run the whole suite (tox: tests + lint)
#   make debug   QEMU paused + an interactive GDB attached to it (mm commands loaded)
#   make bench   the performance numbers (JSON on the last line)
# Setup installs what is missing: Debian/Ubuntu packages with apt-get (sudo
# when not root), Python packages into .venv/ from PyPI.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := qemu-system-x86 qemu-utils gdb cmake ninja-build tmux
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps venv build test demo debug bench lint clean

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

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

venv: $(VENV)/.installed

build: deps venv
	$(PY) -m harness build

test: deps venv
	$(VENV)/bin/tox

demo: build
	$(PY) -m harness demo

debug: build
	$(PY) -m harness debug

bench: build
	$(PY) -m harness bench

lint: venv
	$(VENV)/bin/tox -e lint

clean:
	rm -rf build artifacts .tox
