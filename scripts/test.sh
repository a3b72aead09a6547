#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this).
# Installs what the tests need (helm, kubectl, kubernetes-validate) idempotently, then checks
# formatting and lints and runs every test, including the real-binary helm/kubectl tests and the
# quick benchmark harness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools_bin="$(scripts/install-test-tools.sh | tail -n 1)"
export PATH="$tools_bin:$PATH"
export KUBECTL="$tools_bin/kubectl" HELM="$tools_bin/helm"

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets
# The CRD in crds/ is exactly what the binary prints (also a test; this is the literal check).
cargo run --locked --quiet -- crd | diff - crds/passwordboss.com_azureadconnectors.yaml
echo "crds/ matches 'pbconnector crd'"
