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
	$(CARGO) build --bin leadflow --bin leadctl

$(DEV_SECRET):
	@mkdir -p $(DATA)
	@head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $@
	@chmod 600 $@
	@echo "generated a development signing secret in $@"

MINT = $(TARGET_DIR)/debug/leadctl token mint --secret-file $(DEV_SECRET) --org $(DEMO_ORG) --ttl-minutes 480

## Start leads, routing and notifier in one process on SQLite files under ./data
## (routing state in memory, or in Redis when REDIS_URL is set; mail as .eml
## files in ./data/mail). Stop with Ctrl-C.
run: build $(DEV_SECRET)
	@$(MINT) --user owner-1 --role owner > $(DATA)/owner.token
	@$(MINT) --user ana --role sales > $(DATA)/ana.token
	@echo
	@echo "leads     127.0.0.1:50051   routing   127.0.0.1:50052   notifier  127.0.0.1:50053"
	@echo "data      $(DATA)/ (SQLite files, mail as .eml in $(DATA)/mail)   stop: Ctrl-C"
	@echo "tokens    owner: $(DATA)/owner.token   sales rep ana: $(DATA)/ana.token   (organisation '$(DEMO_ORG)')"
	@echo
	@echo "try (grpcurl; reflection is on):"
	@echo "  O=\$$(cat $(DATA)/owner.token); A=\$$(cat $(DATA)/ana.token)"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$O\" -d '{\"user_id\":\"ana\",\"display_name\":\"Ana\",\"role\":\"SALES\"}' 127.0.0.1:50051 leadflow.leads.v1.TeamService/UpsertMember"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$O\" -d '{\"settings\":{\"enabled\":true,\"strategy\":\"ROUND_ROBIN\",\"rotation_user_ids\":[\"ana\"]}}' 127.0.0.1:50052 leadflow.routing.v1.RoutingService/UpdateRoutingSettings"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$O\" -d '{\"name\":\"Jane Doe\",\"source\":\"WEBSITE\"}' 127.0.0.1:50051 leadflow.leads.v1.LeadService/CreateLead"
	@echo "  grpcurl -plaintext -H \"authorization: Bearer \$$A\" 127.0.0.1:50053 leadflow.notifier.v1.NotifierService/ListNotifications"
	@echo
	LEADFLOW_AUTH_HS256_SECRET=$$(cat $(DEV_SECRET)) \
	LEADS_LISTEN_ADDR=127.0.0.1:50051 ROUTING_LISTEN_ADDR=127.0.0.1:50052 NOTIFIER_LISTEN_ADDR=127.0.0.1:50053 \
	LEADS_ROUTING_URL=http://127.0.0.1:50052 LEADS_NOTIFIER_URL=http://127.0.0.1:50053 \
	ROUTING_STATE_URL=$${REDIS_URL:-memory} \
	$(TARGET_DIR)/debug/leadflow all

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
