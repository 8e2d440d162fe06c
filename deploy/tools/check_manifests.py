#!/usr/bin/env python3
"""Caravan-specific checks on the rendered deploy/base output.

Schema validity (kubernetes-validate) and generic security policy (checkov) are checked by
scripts/validate-deploy.sh with those tools. This script checks what they cannot know: that the
manifests match the binaries' contract (binary names, ports, health service names, config path,
env overrides), that selectors, Services, PDBs and ConfigMap references line up, and that the
shutdown budget fits the grace period.

Usage: check_manifests.py RENDERED.yaml [DOCKERFILE]
Needs PyYAML (installed with kubernetes-validate) and Python >= 3.11 (tomllib).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

CONFIG_DIR = "/etc/caravan"
CONFIG_PATH = f"{CONFIG_DIR}/caravan.toml"
DB_SECRET = ("caravan-database", "url")
PROFILING_ADDR = "http://caravan-profiling:50062"
GRACE_SECONDS = 30
UID = 65532

# component -> (binary, gRPC port, grpc.health.v1 service name, calls profiling)
SERVICES = {
    "ingestion": ("caravan-ingestion", 50061, "caravan.ingestion.v1.IngestionService", False),
    "profiling": ("caravan-profiling", 50062, "caravan.profiling.v1.ProfilingService", False),
    "recommendation": (
        "caravan-recommendation",
        50063,
        "caravan.recommendation.v1.RecommendationService",
        True,
    ),
    "marketing": ("caravan-marketing", 50064, "caravan.marketing.v1.StrategyScoringService", True),
}
ALL_IN_ONE = ("caravan", 50051)

errors: list[str] = []
checks = 0


def check(cond: bool, where: str, msg: str) -> bool:
    global checks
    checks += 1
    if not cond:
        errors.append(f"{where}: {msg}")
    return bool(cond)


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def env_map(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def check_pod_security(where: str, pod: dict, container: dict) -> None:
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, where, "pod securityContext.runAsNonRoot must be true")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where,
          "pod seccompProfile must be RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is False, where,
          "automountServiceAccountToken must be false")
    check(pod.get("hostNetwork") in (None, False), where, "hostNetwork must not be used")
    csc = container.get("securityContext", {})
    check(csc.get("runAsNonRoot") is True, where, "container runAsNonRoot must be true")
    check(isinstance(csc.get("runAsUser", psc.get("runAsUser")), int)
          and csc.get("runAsUser", psc.get("runAsUser")) == UID, where,
          f"runAsUser must be the image's numeric user {UID}")
    check(csc.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem must be true")
    check(csc.get("allowPrivilegeEscalation") is False, where,
          "allowPrivilegeEscalation must be false")
    check(csc.get("privileged") in (None, False), where, "privileged must be false")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], where,
          "capabilities.drop must be [ALL]")
    check(not csc.get("capabilities", {}).get("add"), where, "no capabilities may be added")
    res = container.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in res.get(kind, {}), where, f"resources.{kind}.{r} missing")


def check_volumes(where: str, pod: dict, container: dict, configmaps: dict) -> None:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    cfg = mounts.get(CONFIG_DIR)
    if check(cfg is not None, where, f"no volume mounted at {CONFIG_DIR}"):
        check(cfg.get("readOnly") is True, where, f"{CONFIG_DIR} mount must be readOnly")
        vol = volumes.get(cfg["name"], {})
        cm_name = vol.get("configMap", {}).get("name")
        if check(cm_name in configmaps, where,
                 f"config volume references ConfigMap {cm_name!r}, which is not rendered "
                 "(generator name/hash rewrite broken?)"):
            check("caravan.toml" in configmaps[cm_name].get("data", {}), where,
                  f"ConfigMap {cm_name} has no caravan.toml key")
    tmp = mounts.get("/tmp")
    if check(tmp is not None, where, "no volume mounted at /tmp"):
        check("emptyDir" in volumes.get(tmp["name"], {}), where, "/tmp must be an emptyDir")


def check_db_env(where: str, container: dict) -> None:
    env = env_map(container)
    db = env.get("CARAVAN__DATABASE__URL", {})
    ref = db.get("valueFrom", {}).get("secretKeyRef", {})
    check((ref.get("name"), ref.get("key")) == DB_SECRET and "value" not in db, where,
          "CARAVAN__DATABASE__URL must come from secretKeyRef caravan-database/url")


IDENTITY_SECRET = ("caravan-identity", "hmac-key")


def check_identity_env(where: str, container: dict) -> None:
    """Ingestion must not fall back to the development HMAC key."""
    key = env_map(container).get("CARAVAN__INGESTION__IDENTITY_HASH_KEY", {})
    ref = key.get("valueFrom", {}).get("secretKeyRef", {})
    check((ref.get("name"), ref.get("key")) == IDENTITY_SECRET and "value" not in key, where,
          "CARAVAN__INGESTION__IDENTITY_HASH_KEY must come from secretKeyRef caravan-identity/hmac-key")


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(Path(sys.argv[1]).read_text()) if d]
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        name = d.get("metadata", {}).get("name", "?")
        kind = d.get("kind", "?")
        where = f"{kind}/{name}"
        check(name not in by_kind.get(kind, {}), where, "duplicate object")
        by_kind.setdefault(kind, {})[name] = d
        meta = d.get("metadata", {})
        check("namespace" not in meta, where, "base must be namespace-agnostic (metadata.namespace set)")
        labels = meta.get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/component"):
            check(key in labels, where, f"label {key} missing")
        check(labels.get("app.kubernetes.io/part-of") == "caravan", where,
              "label app.kubernetes.io/part-of=caravan missing")
    check("Secret" not in by_kind, "base", "no Secret may be committed in the base "
          "(the Deployments reference Secret caravan-database)")

    configmaps = by_kind.get("ConfigMap", {})
    config = None
    gen = [n for n in configmaps if n.startswith("caravan-config-")]
    if check(len(gen) == 1, "ConfigMap/caravan-config", "expected one hash-suffixed caravan-config"):
        data = configmaps[gen[0]].get("data", {})
        try:
            config = tomllib.loads(data.get("caravan.toml", ""))
        except tomllib.TOMLDecodeError as exc:
            check(False, f"ConfigMap/{gen[0]}", f"caravan.toml is not valid TOML: {exc}")
    if config is not None:
        where = "caravan.toml"
        check("url" not in config.get("database", {}), where,
              "database.url must not be in the ConfigMap (it is a secret)")
        check(config.get("database", {}).get("migrate_on_start") is False, where,
              "database.migrate_on_start must be false (the caravan-migrate Job migrates)")
        check("listen_addr" not in config.get("server", {}), where,
              "server.listen_addr is per Deployment (env), not shared")
        # The binaries deserialize with deny_unknown_fields: an unknown section stops them.
        known = {"server", "database", "telemetry", "clients", "ingestion"}
        check(set(config) <= known, where, f"unknown sections {sorted(set(config) - known)}")

    service_accounts = by_kind.get("ServiceAccount", {})
    deployments = by_kind.get("Deployment", {})
    services = by_kind.get("Service", {})
    pdbs = by_kind.get("PodDisruptionBudget", {})
    expected_deployments = {f"caravan-{c}" for c in SERVICES}
    check(set(deployments) == expected_deployments, "base",
          f"Deployments {sorted(deployments)} != expected {sorted(expected_deployments)}")

    for component, (binary, port, health, calls_profiling) in SERVICES.items():
        name = f"caravan-{component}"
        dep = deployments.get(name)
        if dep is None:
            continue
        where = f"Deployment/{name}"
        spec = dep["spec"]
        pod_labels = spec["template"]["metadata"].get("labels", {})
        selector = spec.get("selector", {}).get("matchLabels", {})
        check(labels_match(selector, pod_labels), where, "selector does not match pod template labels")
        check("app.kubernetes.io/part-of" not in selector, where,
              "part-of must not be in the (immutable) selector")
        check(pod_labels.get("app.kubernetes.io/part-of") == "caravan", where,
              "pod template lacks part-of label")
        check(spec.get("replicas") == 2, where, "replicas must be 2")
        pod = spec["template"]["spec"]
        check(pod.get("terminationGracePeriodSeconds") == GRACE_SECONDS, where,
              f"terminationGracePeriodSeconds must be {GRACE_SECONDS}")
        check(pod.get("serviceAccountName") in service_accounts, where,
              f"serviceAccountName {pod.get('serviceAccountName')!r} is not rendered")
        check(bool(pod.get("topologySpreadConstraints") or pod.get("affinity", {}).get("podAntiAffinity")),
              where, "needs topologySpreadConstraints or pod anti-affinity")
        for tsc in pod.get("topologySpreadConstraints", []):
            check(labels_match(tsc.get("labelSelector", {}).get("matchLabels", {}), pod_labels),
                  where, "topologySpreadConstraint labelSelector does not match the pods")
        containers = pod.get("containers", [])
        if not check(len(containers) == 1, where, "expected exactly one container"):
            continue
        c = containers[0]
        check_pod_security(where, pod, c)
        check_volumes(where, pod, c, configmaps)
        check_db_env(where, c)
        if binary == "caravan-ingestion":
            check_identity_env(where, c)
        image = c.get("image", "")
        check(image != "caravan" and (":" in image.rsplit("/", 1)[-1] or "@sha256:" in image),
              where, f"image {image!r}: the kustomize images transformer did not apply")
        check(c.get("command") == [binary, "--config", CONFIG_PATH], where,
              f"command must be [{binary}, --config, {CONFIG_PATH}], got {c.get('command')}")
        ports = [p for p in c.get("ports", []) if p.get("name") == "grpc"]
        check(len(ports) == 1 and ports[0].get("containerPort") == port, where,
              f"container port 'grpc' must be {port}")
        env = env_map(c)
        check(env.get("CARAVAN__SERVER__LISTEN_ADDR", {}).get("value") == f"0.0.0.0:{port}", where,
              f"CARAVAN__SERVER__LISTEN_ADDR must be 0.0.0.0:{port}")
        if calls_profiling:
            check(env.get("CARAVAN__CLIENTS__PROFILING_ADDR", {}).get("value") == PROFILING_ADDR,
                  where, f"CARAVAN__CLIENTS__PROFILING_ADDR must be {PROFILING_ADDR}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc = c.get(probe, {}).get("grpc")
            check(grpc == {"port": port, "service": health}, where,
                  f"{probe} must be grpc {{port: {port}, service: {health}}}, got {c.get(probe)}")
        # Shutdown budget: preStop sleep + drain (shutdown_grace_ms) < terminationGracePeriod.
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        if config is not None:
            drain_ms = config.get("server", {}).get("shutdown_grace_ms", 25000)
            check(pre_stop * 1000 + drain_ms < GRACE_SECONDS * 1000, where,
                  f"preStop {pre_stop}s + shutdown_grace_ms {drain_ms} does not fit in "
                  f"terminationGracePeriodSeconds {GRACE_SECONDS}")

        svc = services.get(name)
        if check(svc is not None, where, f"no Service {name}"):
            sw = f"Service/{name}"
            sspec = svc["spec"]
            check(sspec.get("type", "ClusterIP") == "ClusterIP", sw, "type must be ClusterIP")
            check(labels_match(sspec.get("selector", {}), pod_labels), sw,
                  "selector does not match the Deployment's pods")
            sp = sspec.get("ports", [])
            check(len(sp) == 1 and sp[0].get("name") == "grpc" and sp[0].get("port") == port
                  and sp[0].get("targetPort") in ("grpc", port) and sp[0].get("appProtocol") == "grpc",
                  sw, f"needs one port named grpc, port {port}, targetPort grpc, appProtocol grpc")
        pdb = pdbs.get(name)
        if check(pdb is not None, where, f"no PodDisruptionBudget {name}"):
            check(labels_match(pdb["spec"].get("selector", {}).get("matchLabels", {}), pod_labels),
                  f"PodDisruptionBudget/{name}", "selector does not match the Deployment's pods")

    for pdb_name, pdb in pdbs.items():
        sel = pdb["spec"].get("selector", {}).get("matchLabels", {})
        check(any(labels_match(sel, d["spec"]["template"]["metadata"].get("labels", {}))
                  for d in deployments.values()),
              f"PodDisruptionBudget/{pdb_name}", "selects no Deployment's pods")

    jobs = by_kind.get("Job", {})
    job = jobs.get("caravan-migrate")
    if check(job is not None, "base", "no Job caravan-migrate"):
        where = "Job/caravan-migrate"
        spec = job["spec"]
        check(isinstance(spec.get("backoffLimit"), int), where, "backoffLimit must be set")
        check(isinstance(spec.get("ttlSecondsAfterFinished"), int), where,
              "ttlSecondsAfterFinished must be set")
        pod = spec["template"]["spec"]
        check(pod.get("restartPolicy") in ("Never", "OnFailure"), where, "restartPolicy Never/OnFailure")
        check(pod.get("serviceAccountName") in service_accounts, where,
              "serviceAccountName is not rendered")
        c = pod["containers"][0]
        check(c.get("command") == ["caravan", "migrate", "--config", CONFIG_PATH], where,
              f"command must be [caravan, migrate, --config, {CONFIG_PATH}]")
        check_pod_security(where, pod, c)
        check_volumes(where, pod, c, configmaps)
        check_db_env(where, c)

    # Cross-check with the Dockerfile: every binary the manifests run is built and exposed.
    if len(sys.argv) == 3:
        dockerfile = Path(sys.argv[2]).read_text()
        built = set(re.findall(r"--bin\s+([\w-]+)", dockerfile))
        exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.M)
                   for p in re.findall(r"\d+", line)}
        wanted = {b for b, *_ in SERVICES.values()} | {ALL_IN_ONE[0]}
        check(wanted <= built, "Dockerfile", f"binaries not built: {sorted(wanted - built)}")
        ports = {p for _, p, *_ in SERVICES.values()} | {ALL_IN_ONE[1]}
        check(ports <= exposed, "Dockerfile", f"ports not EXPOSEd: {sorted(ports - exposed)}")

    for e in errors:
        print(f"FAIL {e}")
    print(f"check_manifests: {len(docs)} objects, {checks - len(errors)}/{checks} checks passed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
