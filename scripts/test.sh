#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this).
# Installs what the tests need (helm, kubectl, kubernetes-validate) idempotently, builds a real
# kube-apiserver and etcd once per machine (scripts/build-apiserver.sh: minutes the first time,
# reused after), then checks formatting and lints and runs every test, including the e2e,
# kubectl and helm tests against that API server and the quick benchmark harness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools_bin="$(scripts/install-test-tools.sh | tail -n 1)"
export PATH="$tools_bin:$PATH"
export KUBECTL="$tools_bin/kubectl" HELM="$tools_bin/helm"
# A failed build fails the run here, with Go's error: the API-server tests never skip.
PBCONNECTOR_K8S_BIN="$(scripts/build-apiserver.sh | tail -n 1)"
export PBCONNECTOR_K8S_BIN
# The container image (static musl binary FROM scratch), once per run; tests/suite/container/image.rs
# runs it with root podman. The script builds it again each time (labels name this checkout).
PBCONNECTOR_IMAGE_ARCHIVE="$PWD/$(scripts/build-image.sh | tail -n 1)"
export PBCONNECTOR_IMAGE_ARCHIVE
# The release workflow cannot run here; it must at least be valid (and call the same script).
actionlint .github/workflows/*.yml
# A step that runs the script, not a comment that names it (the file's header does).
# (No `grep -q` at the pipe's end: it exits at the first match and, under pipefail, the first
# grep's SIGPIPE would fail the check at random.)
if ! grep -v '^[[:space:]]*#' .github/workflows/release.yml | grep -E '(^|[^[:alnum:]_/.-])scripts/build-image\.sh' >/dev/null; then
  echo "release.yml: no step runs scripts/build-image.sh" >&2
  exit 1
fi
echo "actionlint: .github/workflows valid"
# The chart as released (helm package, then pushed to an OCI registry): the package renders, and
# refuses to render without an image.
rm -rf target/chart
helm package charts/pbconnector --destination target/chart >/dev/null
helm template pbconnector target/chart/pbconnector-*.tgz \
  --set image.repository=registry.example.com/pbconnector >/dev/null
if helm template pbconnector target/chart/pbconnector-*.tgz >/dev/null 2>&1; then
  echo "the packaged chart renders without image.repository" >&2
  exit 1
fi
echo "helm package: the chart packages and renders"

# rustfmt and clippy: install-test-tools.sh adds the rustup components; a missing one fails here.
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets
# No crate with a known advisory in the release binary (issue 15): rsa (RUSTSEC-2023-0071) and the
# unmaintained serde_yaml may be dev-dependencies only.
for crate in rsa serde_yaml; do
  if [[ -n "$(cargo tree --locked -e normal -p pbconnector -i "$crate" 2>/dev/null)" ]]; then
    echo "the release binary depends on $crate:" >&2
    cargo tree --locked -e normal -p pbconnector -i "$crate" >&2
    exit 1
  fi
done
echo "release binary: no rsa, no serde_yaml"
# The layering is held by Cargo: the core crate (domain, planner, safety gate) knows no
# Kubernetes, no HTTP and no async runtime. Its normal dependency tree names none of them.
core_tree="$(cargo tree --locked -e normal -p pbconnector-core --prefix none)"
if forbidden="$(grep -E '^(kube|kube-[a-z-]+|k8s-openapi|reqwest|tokio|hyper|axum) v' <<<"$core_tree")"; then
  echo "pbconnector-core depends on crates it must not (keep them in the operator crate):" >&2
  echo "$forbidden" >&2
  exit 1
fi
echo "pbconnector-core: no kube, k8s-openapi, reqwest, tokio, hyper or axum"
# The image's binary (build-image.sh above: --no-default-features, static musl, release) has
# neither the simulators nor the demo command (issue 18). Checked on that binary itself rather
# than on a second, debug build of the same features.
if cargo tree --locked --no-default-features -e normal -p pbconnector | grep -q pbconnector-simulators; then
  echo "the --no-default-features build depends on pbconnector-simulators" >&2
  exit 1
fi
image_bin="target/$(uname -m)-unknown-linux-musl/release/pbconnector"
"$image_bin" --version >/dev/null
if "$image_bin" demo --help >/dev/null 2>&1; then
  echo "the image's binary has the demo command" >&2
  exit 1
fi
echo "production build: no simulators, no demo"
# The CRD in crds/ is exactly what the binary prints (also a test; this is the literal check).
cargo run --locked --quiet -- crd | diff - crds/passwordboss.com_azureadconnectors.yaml
cargo run --locked --quiet -- crd --kind AzureAdApplication | diff - crds/passwordboss.com_azureadapplications.yaml
echo "crds/ matches 'pbconnector crd'"
