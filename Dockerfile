# syntax=docker/dockerfile:1
#
# One multi-stage build for every leadflow binary. The builder compiles the
# whole workspace once; each runtime stage copies in one binary on a distroless
# base (glibc, libssl3, CA certificates and tzdata; no shell, no package
# manager) and runs it as the unprivileged user 65532.
#
#   docker build --target leads    -t leadflow/leads:dev .
#   docker build --target routing  -t leadflow/routing:dev .
#   docker build --target notifier -t leadflow/notifier:dev .
#   docker build --target leadflow -t leadflow/leadflow:dev .   # all-in-one + leadctl (the default target)
#
# `make image` builds all four. BuildKit is required (the cache mounts keep the
# cargo registry and target directory between builds).

ARG RUST_VERSION=1.95
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM rust:${RUST_VERSION}-bookworm AS builder
# web-push's payload encryption (ece) links OpenSSL; protoc is vendored.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The target directory is a cache mount, so the binaries are copied out of it
# in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        --bin leads --bin routing --bin notifier --bin leadflow --bin leadctl \
 && mkdir -p /out \
 && cp target/release/leads target/release/routing target/release/notifier \
       target/release/leadflow target/release/leadctl /out/

# Shared by the service images below: non-root, no shell.
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="leadflow" \
      org.opencontainers.image.description="Lead assignment for sales CRMs: leads, routing and notifier gRPC services" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
USER 65532:65532
WORKDIR /home/nonroot

FROM runtime AS leads
COPY --from=builder /out/leads /usr/local/bin/leads
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/leads"]
CMD ["serve"]

FROM runtime AS routing
COPY --from=builder /out/routing /usr/local/bin/routing
EXPOSE 50052
ENTRYPOINT ["/usr/local/bin/routing"]
CMD ["serve"]

FROM runtime AS notifier
COPY --from=builder /out/notifier /usr/local/bin/notifier
EXPOSE 50053
ENTRYPOINT ["/usr/local/bin/notifier"]
CMD ["serve"]

# The all-in-one binary (`leadflow all`) and the CLI; the default target.
FROM runtime AS leadflow
COPY --from=builder /out/leadflow /out/leadctl /usr/local/bin/
EXPOSE 50051 50052 50053
ENTRYPOINT ["/usr/local/bin/leadflow"]
CMD ["all"]
