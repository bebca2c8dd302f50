#!/usr/bin/env bash
# Builds the Go baseline into the cache (never into the repo): ~/.cache/datum-provider-ts/bin/bench-go-baseline.
# Modules come from the Go module proxy at the versions go.mod/go.sum pin (controller-runtime v0.25.3, k8s.io v0.37.2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${DATUM_PROVIDER_TS_CACHE:-$HOME/.cache/datum-provider-ts}/bin"
mkdir -p "$out"
cd "$here"
GOFLAGS=-buildvcs=false go build -trimpath -o "$out/bench-go-baseline.tmp" .
mv "$out/bench-go-baseline.tmp" "$out/bench-go-baseline"
echo "$out/bench-go-baseline"
