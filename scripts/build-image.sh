#!/usr/bin/env bash
# Builds pbconnector's container image from the Dockerfile (FROM scratch: nothing is pulled) and
# writes it as an OCI archive. Prints the archive's path as its last line:
#   target/image/pbconnector-<amd64|arm64>.oci.tar   (image name pbconnector:<version>)
# Steps: a static musl binary (`cargo build --release --no-default-features`, stripped) for this
# machine's architecture, staged with mode 0555 in target/image/context-<arch>/, then the
# Dockerfile built with BUILDER. Every run builds the image again (cargo is incremental, the
# build of one file takes seconds), so its labels always name the checkout it came from.
#
#   scripts/build-image.sh                  buildah, daemonless (root or rootless): the archive
#   BUILDER=podman scripts/build-image.sh   podman build, then podman save: the same archive
#   BUILDER=docker scripts/build-image.sh   docker build: the image stays in docker's store as
#                                           pbconnector:<version>; prints that name instead
#   scripts/build-image.sh --context-only   only the binary and the context; prints the context
#                                           directory, then one --build-arg=KEY=VALUE a line:
#     { read -r context; mapfile -t args; } < <(scripts/build-image.sh --context-only)
#     docker build -f Dockerfile "${args[@]}" -t REGISTRY/pbconnector:VERSION "$context"
#
# Needs: rustup's <arch>-unknown-linux-musl target, musl-gcc (Debian/Ubuntu: musl-tools) for the
# C parts of ring and mimalloc, and the builder (scripts/install-test-tools.sh installs buildah).
# Environment: IMAGE_SOURCE (the org.opencontainers.image.source label; default: the git remote
# `origin`), SOURCE_DATE_EPOCH (the image's creation time; default: the last commit's), BUILDER.
#
# Then push it to your registry, e.g.:
#   skopeo copy oci-archive:target/image/pbconnector-amd64.oci.tar docker://REGISTRY/pbconnector:VERSION
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/containers/env.sh
source scripts/containers/env.sh

context_only=false
case "${1:-}" in
  "") ;;
  --context-only) context_only=true ;;
  *) echo "usage: [BUILDER=buildah|podman|docker] $0 [--context-only]" >&2; exit 2 ;;
esac
builder="${BUILDER:-buildah}"
case "$builder" in
  buildah | podman | docker) ;;
  *) echo "build-image.sh: BUILDER=$builder: use buildah, podman or docker" >&2; exit 2 ;;
esac

case "$(uname -m)" in
  x86_64) arch=amd64 rust_target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) arch=arm64 rust_target=aarch64-unknown-linux-musl ;;
  *) echo "build-image.sh: no musl target for $(uname -m)" >&2; exit 1 ;;
esac
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  revision="$revision-modified"
fi
source_url="${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}"
created="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# musl-gcc for the C code of the dependencies (cc picks CC_<target>); the musl target links
# statically by default. Symbols stripped: the image ships no debugger.
target_env="CC_${rust_target//-/_}"
export "$target_env"="${!target_env:-musl-gcc}"
export CARGO_PROFILE_RELEASE_STRIP=symbols
cargo build --release --locked --no-default-features --bin pbconnector --target "$rust_target" >&2
binary="target/$rust_target/release/pbconnector"
if readelf -d "$binary" | grep -q NEEDED; then
  echo "build-image.sh: $binary is dynamically linked; the image has no libc" >&2
  exit 1
fi

mkdir -p target/image
archive="target/image/pbconnector-$arch.oci.tar"
context="target/image/context-$arch"
rm -rf "$context"
mkdir -p "$context"
install -m 0555 "$binary" "$context/pbconnector"
build_args=("--build-arg=VERSION=$version" "--build-arg=REVISION=$revision" "--build-arg=SOURCE=$source_url")

if $context_only; then
  printf '%s\n' "$context" "${build_args[@]}"
  exit 0
fi

image="localhost/pbconnector:$version"
rm -f "$archive.tmp"
case "$builder" in
  buildah)
    buildah "${storage_flags[@]}" build --format oci --layers=false --omit-history \
      --identity-label=false --timestamp "$created" "${build_args[@]}" \
      --file Dockerfile --tag "$image" "$context" >&2
    buildah "${storage_flags[@]}" push --quiet "$image" "oci-archive:$archive.tmp:pbconnector:$version" >&2
    buildah "${storage_flags[@]}" rmi "$image" >/dev/null
    ;;
  podman)
    podman "${storage_flags[@]}" build --format oci --layers=false --omit-history \
      --identity-label=false --timestamp "$created" "${build_args[@]}" \
      --file Dockerfile --tag "$image" "$context" >&2
    podman "${storage_flags[@]}" save --quiet --format oci-archive --output "$archive.tmp" "$image" >&2
    podman "${storage_flags[@]}" rmi "$image" >/dev/null
    ;;
  docker)
    # docker's own store (its daemon); SOURCE_DATE_EPOCH sets the build's timestamps there.
    SOURCE_DATE_EPOCH="$created" docker build "${build_args[@]}" \
      --file Dockerfile --tag "pbconnector:$version" "$context" >&2
    echo "build-image.sh: pbconnector:$version in docker's image store" >&2
    echo "pbconnector:$version"
    exit 0
    ;;
esac
mv "$archive.tmp" "$archive"
echo "build-image.sh: $archive ($(du -k "$archive" | cut -f1) KiB)" >&2
echo "$archive"
