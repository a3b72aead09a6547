#!/usr/bin/env bash
# The operator at scale on the real path (benches/scale.rs): the release binary as its own
# process, cluster-wide, against etcd + kube-apiserver and the simulators.
#
#   scripts/scale-bench.sh                     # both sizes, results in bench-results/scale/
#   scripts/scale-bench.sh --connectors 300 --users 100 --steady-minutes 2 --out target/scale-bench
#
# With arguments, one run with those (see benches/scale.rs); without, the committed sizes:
# 10,000 connectors × 100 users and 1,000 × 1,000, 5 minutes of steady state each.
# Needs kube-apiserver and etcd ($PBCONNECTOR_K8S_BIN or scripts/build-apiserver.sh's cache),
# kubectl and helm ($KUBECTL, $HELM or .tools/bin); scripts/test.sh's environment has them.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo bench builds the release pbconnector binary with the benchmark and runs that.
if [ $# -gt 0 ]; then
  exec cargo bench --locked --bench scale -- "$@"
fi
for size in "10000 100" "1000 1000"; do
  set -- $size
  cargo bench --locked --bench scale -- --connectors "$1" --users "$2" --steady-minutes 5 \
    --out bench-results/scale
done
