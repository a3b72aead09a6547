#!/usr/bin/env bash
# The fault scenario at scale (issue 28; benches/faults.rs): the release operator as a process of
# its own, a real kube-apiserver and etcd, one simulated tenant and company per connector, and
# four faults one after another while syncs are mid-apply: etcd SIGKILLed and restarted, the
# API server restarted, the operator SIGKILLed and started again, the API server answering 429.
# Writes RESULTS.md and results.json to bench-results/faults/ (or --out DIR).
#
#   scripts/fault-scenario.sh                      # 1,000 connectors × 25 users, 30 s interval
#   scripts/fault-scenario.sh --connectors 200 --out target/faults-200
#   scripts/fault-scenario.sh --quick              # 20 connectors, results under target/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools_bin="$(scripts/install-test-tools.sh | tail -n 1)"
export PATH="$tools_bin:$PATH"
export KUBECTL="$tools_bin/kubectl" HELM="$tools_bin/helm"
PBCONNECTOR_K8S_BIN="$(scripts/build-apiserver.sh | tail -n 1)"
export PBCONNECTOR_K8S_BIN
exec cargo bench --locked --bench faults -- "$@"
