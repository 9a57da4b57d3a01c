#!/usr/bin/env bash
# The chart's checks, without a Kubernetes cluster: for the default values and every file in
# helm/volley/examples/, `helm lint --strict`, `helm template`, every rendered object validated
# against the Kubernetes JSON schemas (kubernetes-validate --strict: unknown fields are errors)
# (KEDA's ScaledObject, which those schemas lack, against KEDA's own models: a wrong type or an
# unknown field fails; the Grafana dashboard must be JSON, the configuration files TOML) and a checkov policy scan with no failed check (checks that do not apply
# are skipped in the chart with their reason). Values that break values.schema.json must be
# refused.
# Tools: bash helm/install-tools.sh (target/tools), or helm, kubernetes-validate and checkov on
# PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$PWD/target/tools
PATH="$tools/bin:$tools/venv/bin:$PATH"
for t in helm kubernetes-validate checkov; do
  command -v "$t" >/dev/null || { echo "helm/check.sh: $t not found; run: bash helm/install-tools.sh" >&2; exit 2; }
done
chart=helm/volley
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check_values() {  # $1: label, rest: helm value flags
  local label=$1; shift
  helm lint --strict "$chart" "$@" >"$out/lint.txt" 2>&1 || { cat "$out/lint.txt"; echo "FAIL lint ($label)"; return 1; }
  helm template volley "$chart" --namespace volley "$@" >"$out/rendered.yaml"
  local kinds
  kinds=$(grep -c '^kind:' "$out/rendered.yaml")
  kubernetes-validate --strict --quiet --no-warn "$out/rendered.yaml" || { echo "FAIL schema ($label)"; return 1; }
  python3 - "$out/rendered.yaml" "$label" <<'PY' || { echo "FAIL KEDA schema ($label)"; return 1; }
import sys, yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject

def unknown(given, known, path):
    # Fields the model dropped: not in KEDA's schema.
    if isinstance(given, dict):
        for k, v in given.items():
            if not isinstance(known, dict) or k not in known:
                yield f"{path}.{k}"
            else:
                yield from unknown(v, known[k], f"{path}.{k}")
    elif isinstance(given, list) and isinstance(known, list):
        for i, (g, k) in enumerate(zip(given, known)):
            yield from unknown(g, k, f"{path}[{i}]")

bad = []
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "ScaledObject":
        obj = ScaledObject.model_validate(doc)
        back = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
        bad += [f"{doc['metadata']['name']}: unknown field {p}" for p in unknown(doc, back, "")]
        print(f"ScaledObject {doc['metadata']['name']}: valid against KEDA's schema")
    if doc and doc.get("kind") == "ConfigMap":
        # The Grafana dashboard: JSON, and every panel queries something. Configuration
        # files: TOML (helm/exercise.py --check has volley itself check them).
        import json, tomllib
        for key, text in (doc.get("data") or {}).items():
            if key.endswith(".toml"):
                try:
                    print(f"{key}: TOML of {len(tomllib.loads(text))} keys")
                except tomllib.TOMLDecodeError as e:
                    bad.append(f"{key}: not TOML: {e}")
            if key.endswith(".json"):
                board = json.loads(text)
                empty = [p["title"] for p in board["panels"] if not p.get("targets")]
                bad += [f"{key}: panel {t!r} has no query" for t in empty]
                print(f"{key}: a dashboard of {len(board['panels'])} panels")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
  (cd "$out" && checkov -f rendered.yaml --framework kubernetes --skip-download --quiet --compact -o json >checkov.json 2>checkov.err) || true
  python3 - "$out/checkov.json" "$label" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
failed = [c for r in reports for c in r["results"]["failed_checks"]]
summary = reports[0]["summary"]
for c in failed:
    print(f"  {c['check_id']} {c['check_name']}: {c['resource']}")
print(f"checkov ({sys.argv[2]}): {summary['passed']} passed, {len(failed)} failed, {summary['skipped']} skipped with a reason")
sys.exit(1 if failed else 0)
PY
  echo "ok: $label ($kinds objects linted, schema-valid)"
}

check_values "default values"
for f in "$chart"/values-ha.yaml "$chart"/examples/*.yaml; do
  check_values "$(basename "$f")" -f "$f"
done

# The values schema refuses what cannot work, naming the key.
refuse() {  # $1: the --set, $2: text the error must contain
  if helm template volley "$chart" --set "$1" >"$out/bad.txt" 2>&1; then
    echo "FAIL: --set $1 was accepted"; return 1
  fi
  grep -q "$2" "$out/bad.txt" || { cat "$out/bad.txt"; echo "FAIL: --set $1: error does not name $2"; return 1; }
  echo "ok: --set $1 refused"
}
refuse agent.replicas=-1 replicas
refuse controller.replicas=2 replicas
refuse controller.settings.onAgentLost=sometimes onAgentLost
refuse controller.settings.agentLostAfter=soon agentLostAfter
refuse agent.typo=1 typo
refuse agent.probePort=0 probePort
refuse autoscaling.hpa.enabled=true,autoscaling.keda.enabled=true "not both"
refuse autoscaling.keda.prometheusAddress=prometheus:9090 prometheusAddress
# A Raft group needs the pod-index label (Kubernetes 1.28); an older cluster is told so.
if helm template volley "$chart" -f "$chart/values-ha.yaml" --kube-version 1.27.9 >"$out/bad.txt" 2>&1; then
  echo "FAIL: values-ha.yaml was accepted for Kubernetes 1.27"; exit 1
fi
grep -q "needs Kubernetes 1.28" "$out/bad.txt" || { cat "$out/bad.txt"; echo "FAIL: values-ha.yaml on 1.27: error does not name 1.28"; exit 1; }
echo "ok: values-ha.yaml refused on Kubernetes 1.27"
helm template volley "$chart" -f "$chart/values-ha.yaml" --kube-version 1.28.0 >/dev/null
echo "ok: values-ha.yaml renders on Kubernetes 1.28"
echo "helm/check.sh: all checks passed"
