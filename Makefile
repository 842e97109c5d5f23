# leadflow — the two commands a newcomer needs are `make run` and `make test`.
# Set CARGO_TARGET_DIR to share a build cache between clones (CI does).

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
DATA := data

.PHONY: run test lint fmt build bench clean-data help

include k8s/k8s.mk

help:
	@echo "make run    start leadflow on SQLite under ./$(DATA) (needs only the Rust toolchain)"
	@echo "make test   run every test (needs PostgreSQL on 127.0.0.1:5432)"
	@echo "make lint   cargo fmt --check, clippy -D warnings, every struct field documented"
	@echo "make bench  benchmarks beside their limits (release build; Postgres and Redis)"
	@echo "make image  container images (Dockerfile; needs a Docker engine)"
	@echo "make k8s-check  render and validate the Kubernetes manifests (part of make test)"

build:
	$(CARGO) build --bin leadflow --bin leadctl

## Start leads, routing and notifier in one process on SQLite files under
## ./data, with the demo organisation (routing state in memory, or in Redis
## when REDIS_URL is set; mail as .eml files in ./data/mail). leadflow prints
## where everything is, the demo tokens and what to try. Stop with Ctrl-C.
run: build
	LEADS_LISTEN_ADDR=127.0.0.1:50051 ROUTING_LISTEN_ADDR=127.0.0.1:50052 NOTIFIER_LISTEN_ADDR=127.0.0.1:50053 \
	ROUTING_STATE_URL=$${REDIS_URL:-memory} \
	$(TARGET_DIR)/debug/leadflow all --demo --data-dir $(DATA)

## Every test: unit tests and integration tests against real Postgres and gRPC servers.
## The binaries first: the cross-service tests run `leadflow`, `leadctl` and the
## services as processes, and cargo builds a package's binaries for tests only
## when that package has integration tests of its own.
test: k8s-check
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --all-targets

## Benchmarks beside their limits, measured in the same run (release build; needs
## Postgres, Redis, redis-benchmark and pgbench). Starts its own `leadflow all`
## and regenerates BENCHMARKS.md, BENCHMARKS.json and BENCHMARKS.svg.
bench:
	$(CARGO) build --release --bin leadflow --bin leads --bin routing --bin notifier --bin leadflow-bench
	$(TARGET_DIR)/release/leadflow-bench --out-dir . --notes services/bench/NOTES.md $(BENCH_ARGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 .ci/undocumented-fields

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf $(DATA)
