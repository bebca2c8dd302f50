#!/bin/sh
# An exec credential plugin for the local environment (`make run`): it hands out the environment's admin client
# certificate as an ExecCredential, the way `datumctl auth get-token` hands out a token. DATUM_DATA_DIR: the
# environment's --data-dir (default: .datum-local at the repository root).
set -e
pki="${DATUM_DATA_DIR:-$(dirname "$0")/../../.datum-local}/pki"
pem() { awk '{ printf "%s\\n", $0 }' "$1"; }
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"%s","clientKeyData":"%s"}}\n' \
  "$(pem "$pki/admin.crt")" "$(pem "$pki/admin.key")"
