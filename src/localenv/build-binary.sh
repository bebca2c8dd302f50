#!/usr/bin/env bash
# Builds one control-plane or upstream binary with the Go toolchain from the Go module proxy and
# caches it outside the repository, keyed by version. Prints the binary's path on the last line.
#
#   build-binary.sh <name> <version> <cache-dir>
#   name: kube-apiserver | kube-controller-manager | etcd | kwok | compute | nso | helm | kustomize | vcsim
#
# Why a wrapper module for k8s.io/kubernetes and etcd: their published go.mod files carry replace
# directives, so `go install pkg@version` refuses them. The wrapper requires the module and
# replaces each staging module with its published v0.x twin.
set -euo pipefail
name=$1 version=$2 cache=$3
command -v go >/dev/null 2>&1 || { echo "error: the Go toolchain ('go') is not on PATH; install Go >= 1.24 or set KUBEBUILDER_ASSETS to a folder holding etcd and kube-apiserver" >&2; exit 3; }
out="$cache/$name-$version"
bin="$out/$name"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$out"
work=$(mktemp -d "$cache/.build-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
case "$name" in
  kube-apiserver|kube-controller-manager)
    v=${version#v}; s="0.${v#1.}"; minor=$(echo "$v" | cut -d. -f2)
    mod=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    staging=$(awk '/^[[:space:]]+k8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$mod")
    { echo 'module local/k8sbins'; echo 'go 1.24'; echo "require k8s.io/kubernetes v$v"; echo 'replace (';
      for m in $staging; do echo "  $m => $m v$s"; done; echo ')'; } > go.mod
    go get "k8s.io/kubernetes/cmd/$name@v$v"
    ld="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=v$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    done
    go build -trimpath -ldflags "$ld" -o "$bin.tmp" "k8s.io/kubernetes/cmd/$name"
    ;;
  etcd)
    { echo 'module local/etcdbin'; echo 'go 1.24'; } > go.mod
    go get "go.etcd.io/etcd/server/v3@$version"
    go build -trimpath -ldflags "-s -w" -o "$bin.tmp" go.etcd.io/etcd/server/v3
    ;;
  kwok)
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$version"
    mv "$work/gobin/kwok" "$bin.tmp"
    ;;
  helm)
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$version"
    mv "$work/gobin/helm" "$bin.tmp"
    ;;
  kustomize)
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$version"
    mv "$work/gobin/kustomize" "$bin.tmp"
    ;;
  vcsim)
    # v0.46.0 is the last govmomi release where vcsim lives inside the root module (go install works).
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "github.com/vmware/govmomi/vcsim@$version"
    mv "$work/gobin/vcsim" "$bin.tmp"
    ;;
  compute)
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w -X main.version=$version" "go.datum.net/compute/cmd@$version"
    mv "$work/gobin/cmd" "$bin.tmp"
    ;;
  nso)
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "go.datum.net/network-services-operator/cmd@$version"
    mv "$work/gobin/cmd" "$bin.tmp"
    ;;
  *) echo "error: unknown binary '$name'" >&2; exit 2 ;;
esac
mv "$bin.tmp" "$bin"
echo "$bin"
