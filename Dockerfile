# syntax=docker/dockerfile:1.7
#
# Caravan container image: one image holding all five binaries
#   caravan-ingestion  caravan-profiling  caravan-recommendation  caravan-marketing  caravan
# Kubernetes Deployments pick the binary with `command:` (see deploy/base). Running the image
# with no arguments starts the all-in-one server (`caravan serve`).
#
# Build (BuildKit is required for the cache mounts; it is the default builder in Docker 23+):
#   docker build -t caravan:dev \
#     --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .

############################################################################################
# Builder: compile every binary in one cargo invocation.
############################################################################################
FROM rust:1.95-bookworm AS builder

WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_NET_RETRY=5

# protoc is vendored (protoc-bin-vendored), so no system packages are needed.
COPY . .

# The crate registry, git checkouts and target/ live in BuildKit cache mounts, so a rebuild
# only recompiles what changed. target/ is a cache mount and is NOT part of the layer, hence the
# binaries are copied out to /out before this RUN ends.
RUN --mount=type=cache,id=caravan-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=caravan-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=caravan-target,target=/src/target,sharing=locked \
    set -eux; \
    cargo build --release --locked \
        --bin caravan-ingestion \
        --bin caravan-profiling \
        --bin caravan-recommendation \
        --bin caravan-marketing \
        --bin caravan; \
    mkdir -p /out/bin /out/data; \
    for bin in caravan-ingestion caravan-profiling caravan-recommendation caravan-marketing caravan; do \
        install -m 0755 "target/release/${bin}" "/out/bin/${bin}"; \
    done

############################################################################################
# Runtime: distroless glibc + libgcc + CA certificates, no shell, non-root (uid/gid 65532).
# Debian 12 based, matching the bookworm builder's glibc.
############################################################################################
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="caravan" \
      org.opencontainers.image.description="Caravan gRPC services: caravan-ingestion, caravan-profiling, caravan-recommendation, caravan-marketing and the all-in-one caravan binary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/bin/ /usr/local/bin/
# Writable working directory for local `docker run` use (the default SQLite URL is relative:
# .caravan/caravan.sqlite). In Kubernetes the root filesystem is read-only and the database URL
# comes from a Secret.
COPY --from=builder --chown=65532:65532 /out/data /var/lib/caravan
WORKDIR /var/lib/caravan

USER 65532:65532

# all-in-one, ingestion, profiling, recommendation, marketing
EXPOSE 50051 50061 50062 50063 50064 9464

# The binaries drain in-flight calls on SIGTERM and exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/caravan"]
CMD ["serve"]
