# syntax=docker/dockerfile:1
#
# pbconnector image: one static binary at /pbconnector on distroless "static", running as
# UID/GID 65532 (nonroot) with no writable filesystem needed.
#
#   docker build -t pbconnector:dev .
#   docker run --rm pbconnector:dev --help
#
# The builder is Alpine, whose native Rust target is *-unknown-linux-musl: the binary is linked
# statically (crt-static, the musl default) on amd64 and arm64 alike, so `docker buildx build --platform
# linux/amd64,linux/arm64` needs no cross toolchain.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS builder
# C toolchain for the crates with C parts (ring); the musl libc to link statically.
RUN apk add --no-cache musl-dev gcc g++ make
WORKDIR /build
# No RUSTFLAGS: musl targets link statically by default, and forcing +crt-static through
# RUSTFLAGS would also hit the host proc-macro crates, which cannot be built that way.
ENV CARGO_TERM_COLOR=never
COPY . .
# --no-default-features: the image has no `demo` command, so no simulator and no fake token
# endpoint (the simulators crate is not compiled).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --no-default-features --bin pbconnector \
 && cp target/release/pbconnector /pbconnector \
 && if readelf -d /pbconnector | grep -q NEEDED; then \
      echo "pbconnector is dynamically linked; the final image has no libc" >&2; exit 1; \
    fi

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="pbconnector" \
      org.opencontainers.image.description="Kubernetes operator that keeps Password Boss users in step with a Microsoft Entra ID group" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chown=0:0 --chmod=0555 /pbconnector /pbconnector
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/pbconnector"]
CMD ["run"]
