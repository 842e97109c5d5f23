# leadflow — the two commands a newcomer needs are `make run` and `make test`.
# Set CARGO_TARGET_DIR to share a build cache between clones (CI does).

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
DATA := data
DEV_SECRET := $(DATA)/dev-hs256.secret
DEMO_ORG := demo

.PHONY: run test lint fmt build bench clean-data help

help:
	@echo "make run    start leadflow on SQLite under ./$(DATA) (needs only the Rust toolchain)"
	@echo "make test   run every test (needs PostgreSQL on 127.0.0.1:5432)"
	@echo "make lint   cargo fmt --check and clippy -D warnings"
	@echo "make bench  benchmarks beside their limits (release build; Postgres and Redis)"

build:
	$(CARGO) build --bin leads --bin leadctl

$(DEV_SECRET):
	@mkdir -p $(DATA)
	@head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $@
	@chmod 600 $@
	@echo "generated a development signing secret in $@"

## Start leadflow on SQLite files under ./data. Stop with Ctrl-C.
run: build $(DEV_SECRET)
	@echo
	@echo "leads service:  127.0.0.1:50051 (gRPC, reflection on; SQLite at $(DATA)/leads.db)"
	@echo "stop it with:   Ctrl-C"
	@echo "an owner token for organisation '$(DEMO_ORG)':"
	@echo
	@$(TARGET_DIR)/debug/leadctl token mint --secret-file $(DEV_SECRET) --user owner-1 --org $(DEMO_ORG) --role owner --ttl-minutes 480 | tee $(DATA)/owner.token
	@echo
	@echo "try:  grpcurl -plaintext -H \"authorization: Bearer \$$(cat $(DATA)/owner.token)\" \\"
	@echo "        -d '{\"name\":\"Jane Doe\",\"source\":\"WEBSITE\"}' 127.0.0.1:50051 leadflow.leads.v1.LeadService/CreateLead"
	@echo
	LEADFLOW_AUTH_HS256_SECRET=$$(cat $(DEV_SECRET)) LEADS_LISTEN_ADDR=127.0.0.1:50051 \
	LEADS_DATABASE_URL=sqlite://$(DATA)/leads.db?mode=rwc $(TARGET_DIR)/debug/leads

## Every test: unit tests and integration tests against real Postgres and gRPC servers.
test:
	$(CARGO) test --workspace --all-targets

## Benchmarks that print figures beside their limits (release build; needs Postgres and Redis).
bench:
	$(CARGO) run --release -p leadflow-bench -- routing

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf $(DATA)
