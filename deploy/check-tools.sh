#!/usr/bin/env bash
# For .ci/run: the deploy tests render overlays with `kubectl kustomize` and need
# kubectl >= 1.27 with kustomize v5. Debian's kubernetes-client (1.20) is too
# old, so say exactly what is missing instead of letting the tests skip.
set -euo pipefail
if ! command -v kubectl >/dev/null 2>&1; then
  echo "deploy: kubectl not found; deploy/test/k8s.test.ts needs kubectl >= 1.27 with kustomize v5" >&2
  exit 1
fi
kubectl version --client
minor=$(kubectl version --client -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(`${v.clientVersion.minor}|${v.kustomizeVersion??""}`)})')
kubectl_minor=${minor%%|*}; kustomize=${minor#*|}
if [ "${kubectl_minor//[!0-9]/}" -lt 27 ] || [[ ! "$kustomize" =~ ^v([5-9]|[1-9][0-9]) ]]; then
  echo "deploy: kubectl 1.${kubectl_minor} with kustomize '${kustomize}' is too old; need kubectl >= 1.27 with kustomize v5" >&2
  exit 1
fi
