#!/usr/bin/env bash
# Checks the monitoring assets in deploy/monitoring/ offline, with the real promtool:
#   1. promtool check rules   caravan.rules.yml
#   2. promtool test rules    caravan.rules.test.yml (each alert firing and not firing)
#   3. prometheusrule.yaml carries exactly the groups of caravan.rules.yml
#   4. every query of grafana-dashboard.json parses (promtool checks them as recording rules)
# Run by scripts/test.sh after the deploy validation; needs .tools/bin/promtool
# (scripts/install-tools.sh) and PyYAML in .tools/venv (scripts/validate-deploy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PROMTOOL=${PROMTOOL:-$PWD/.tools/bin/promtool}
DIR=deploy/monitoring

"$PROMTOOL" check rules "$DIR/caravan.rules.yml"
(cd "$DIR" && "$PROMTOOL" test rules caravan.rules.test.yml)

.tools/venv/bin/python - "$DIR" "$PROMTOOL" <<'PY'
import json, pathlib, re, sys, tempfile, subprocess

directory = pathlib.Path(sys.argv[1])

def load_yaml(path):
    # PyYAML comes with the deploy validators in .tools/venv (scripts/validate-deploy.sh).
    import yaml
    return yaml.safe_load(path.read_text())

rules = load_yaml(directory / "caravan.rules.yml")
operator = load_yaml(directory / "prometheusrule.yaml")
if operator.get("kind") != "PrometheusRule" or operator["spec"] != rules:
    sys.exit("prometheusrule.yaml differs from caravan.rules.yml: regenerate it")

dashboard = json.loads((directory / "grafana-dashboard.json").read_text())
exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
if not exprs:
    sys.exit("the dashboard has no queries")
group = {"groups": [{"name": "dashboard", "rules": [
    {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$__rate_interval", "5m", e)}
    for i, e in enumerate(exprs)]}]}
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    json.dump(group, f)  # JSON is YAML
subprocess.run([sys.argv[2], "check", "rules", f.name], check=True, stdout=subprocess.DEVNULL)
print(f"dashboard: {len(exprs)} queries parse; PrometheusRule matches the rule file")
PY
