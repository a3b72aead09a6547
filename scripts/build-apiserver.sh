#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd for the tests, once per machine, into a cache outside the
# repository (default ~/.cache/pbconnector/k8s; override with PBCONNECTOR_K8S_CACHE).
#
#   kube-apiserver  k8s.io/kubernetes v$K8S_VERSION, the minor k8s-openapi's `latest` feature
#                   targets; built from a throwaway Go module that requires k8s.io/kubernetes and
#                   pins every k8s.io/* staging module to v0.<minor>.<patch> with a `replace`
#   etcd            go.etcd.io/etcd/server/v3 v$ETCD_VERSION, from a wrapper module whose main
#                   calls etcdmain.Main
#
# Both are static (CGO_ENABLED=0). Only the Go module proxy is used. Idempotent: a binary that
# exists and reports the expected version is kept. A failed build exits non-zero with Go's error,
# so the test run fails instead of skipping. The last line printed is the directory holding
# `kube-apiserver` and `etcd`.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
cache="${PBCONNECTOR_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pbconnector/k8s}"
bin="$cache/v$K8S_VERSION-etcd$ETCD_VERSION/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
staging_version="v0.${K8S_VERSION#*.}"

build_apiserver() {
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  (
    cd "$work"
    go mod init pbconnector.test/kube-apiserver >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    # k8s.io/kubernetes replaces its staging modules with ./staging paths; a module that requires
    # it has to name a real version for each. Take the list from its own go.mod.
    go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >download.json
    gomod="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' download.json)"
    grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    cat >main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
    go mod tidy
    local v="k8s.io/component-base/version"
    go build -trimpath -o "$bin/kube-apiserver.tmp" -ldflags "-s -w \
      -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor \
      -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z \
      -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION" .
  )
  mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
}

build_etcd() {
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  (
    cd "$work"
    go mod init pbconnector.test/etcd >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go mod tidy
    go build -trimpath -o "$bin/etcd.tmp" -ldflags "-s -w" .
  )
  mv "$bin/etcd.tmp" "$bin/etcd"
}

# Each version is read whole before it is matched: under pipefail, `grep -q` or `head` closing the
# pipe early would kill the binary with SIGPIPE and fail the check (or the script) at random.
version_of() { "$1" --version 2>/dev/null || true; }

if ! grep -qx "Kubernetes v$K8S_VERSION" <<<"$(version_of "$bin/kube-apiserver")"; then
  echo "building kube-apiserver v$K8S_VERSION into $bin (first run on this machine: minutes)" >&2
  build_apiserver
fi
if ! grep -q "etcd Version: $ETCD_VERSION" <<<"$(version_of "$bin/etcd")"; then
  echo "building etcd v$ETCD_VERSION into $bin" >&2
  build_etcd
fi
"$bin/kube-apiserver" --version >&2
etcd_version="$("$bin/etcd" --version)"
echo "${etcd_version%%$'\n'*}" >&2
echo "$bin"
