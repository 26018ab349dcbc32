# Talpa — the two commands: `make run` (the client) and `make test` (everything).
# Both install what is missing with apt-get (they ask for root through sudo when not root).

CARGO_TARGET_DIR ?= $(HOME)/.cache/talpa/target
export CARGO_TARGET_DIR
TALPA_VENV ?= $(HOME)/.cache/talpa/venv
export TALPA_VENV
SHELL := /bin/bash

.PHONY: run test demo bench fuzz build-deps

## Install the system packages Talpa needs to build and run (asks for root).
build-deps:
	@bash tests/harness/system-deps.sh build

## Build in release mode and open the window on the default profile.
run: build-deps
	cargo build --release --bin talpa
	"$(CARGO_TARGET_DIR)/release/talpa"

## Everything: packages, Python peers, format, lints, every test (unit, integration, GUI).
test:
	@bash tests/harness/run-tests.sh

## Try Talpa offline: a private Tor network, Prosody and a peer bot on this machine.
demo:
	@bash tests/harness/demo.sh

## Benchmarks, printed as figures and ratios to peers measured in the same run.
bench:
	@bash tests/harness/run-bench.sh $(BENCH)

## The OMEMO fuzz targets under libFuzzer (nightly, cargo-fuzz), FUZZ_SECONDS each (default 30).
fuzz:
	@bash tests/harness/fuzz.sh
