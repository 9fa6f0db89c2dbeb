# carplb — the two commands that matter: `make demo` and `make test`.
# Both install missing Debian packages first (scripts/install-deps), then build.
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: all deps build test test-unit test-asan test-fuzz demo demo-agent lab bench image clean help

all: build

help:
	@echo "make demo   - install deps, build, run the cluster lab end to end (API double, controller, 3 agents) and clean up"
	@echo "make demo-agent - the agent-only lab (3 nodes, 2 VIPs, no controller)"
	@echo "make lab    - like demo, but leave the lab running and print kubectl commands"
	@echo "make test   - install deps, build, run every test through ctest (what CI runs)"
	@echo "make build  - configure + build the default preset"
	@echo "make bench  - run the benchmarks in bench/ (results: docs/benchmarks.md)"
	@echo "make image  - build the container image offline with podman (scripts/build-image; compiles in the builder stage, from build/ccache after make build)"

deps:
	@scripts/install-deps

build: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS)

# Everything CI runs: default build (unit, integration, e2e, kubectl, chart, image tests),
# then the ASan+UBSan build of the unit tests, then bounded libFuzzer runs.
test: build
	ctest --preset default -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

test-unit: build
	ctest --preset unit -j $(JOBS)

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

test-fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	ctest --preset fuzz -j $(JOBS)

demo: build
	@scripts/demo-cluster

demo-agent: build
	@scripts/demo

lab: build
	@scripts/demo-cluster --keep

bench: build
	@bench/run-all

image: deps
	@scripts/build-image

clean:
	rm -rf build
