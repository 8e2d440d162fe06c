#!/usr/bin/env python3
"""Caravan-specific checks on the rendered deploy/base output.

Schema validity (kubernetes-validate) and generic security policy (checkov) are checked by
scripts/validate-deploy.sh with those tools. This script checks what they cannot know: that the
manifests match the binaries' contract (binary names, ports, health service names, config path,
env overrides, the Secrets every binary needs to start off loopback), that selectors, Services,
PDBs, NetworkPolicies and ConfigMap references line up, and that the shutdown budget fits the
grace period.

Usage: check_manifests.py [--tls] RENDERED.yaml [DOCKERFILE]
  --tls  RENDERED is the base with deploy/components/tls: expect TLS settings from the mounted
         Secret caravan-tls, https calls to profiling and TCP probes instead of gRPC ones.
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
    # Ingestion calls profiling for exports (caravan.privacy.v1.PrivacyService).
    "ingestion": ("caravan-ingestion", 50061, "caravan.ingestion.v1.IngestionService", True),
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
# GET /metrics of every service, scraped from namespaces labelled caravan.io/monitoring=true.
METRICS_PORT = 9464
MONITORING_LABEL = ("caravan.io/monitoring", "true")

# Secrets the pods reference (never contain).
IDENTITY_SECRET = ("caravan-identity", "hmac-key")
ENCRYPTION_SECRET = "caravan-encryption"          # envFrom: whole CARAVAN__PRIVACY__* variables
SERVICE_CALLS_SECRET = ("caravan-service-calls", "api-key")
TLS_SECRET = "caravan-tls"
TLS_DIR = "/etc/caravan-tls"
# The label a platform caller's pods (and, from other namespaces, its namespace) carry.
CLIENT_LABEL = ("caravan.io/client", "true")
DNS_PORT = 53
DB_PORT = 3306
# Sections caravan.toml may have (the binaries deny unknown ones) and the settings besides
# database.url that are secrets, which must come from Secrets and never from the ConfigMap.
KNOWN_SECTIONS = {"server", "database", "telemetry", "clients", "ingestion", "profiling",
                  "recommendation", "auth", "privacy"}
SECRET_SETTINGS = [("ingestion", "identity_hash_key"),
                   ("clients", "api_key"), ("privacy", "encryption_keys"),
                   ("privacy", "active_encryption_key")]

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


def selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions); an empty one matches everything."""
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


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


def check_secret_env(where: str, container: dict, var: str, secret: tuple[str, str]) -> None:
    entry = env_map(container).get(var, {})
    ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
    check((ref.get("name"), ref.get("key")) == secret and "value" not in entry
          and not ref.get("optional"), where,
          f"{var} must come from (non-optional) secretKeyRef {secret[0]}/{secret[1]}")


def check_identity_env(where: str, container: dict) -> None:
    """Every binary on a non-loopback address refuses the development HMAC key."""
    check_secret_env(where, container, "CARAVAN__INGESTION__IDENTITY_HASH_KEY", IDENTITY_SECRET)


def check_encryption_env(where: str, container: dict) -> None:
    """Every binary that opens the store installs the encryption keys; without them it makes a
    key file (refused off loopback, impossible on a read-only root filesystem)."""
    refs = [e.get("secretRef", {}) for e in container.get("envFrom", [])]
    check(any(r.get("name") == ENCRYPTION_SECRET and not r.get("optional") for r in refs), where,
          f"envFrom must include (non-optional) secretRef {ENCRYPTION_SECRET}")
    env = env_map(container)
    for var in env:
        check(not var.startswith("CARAVAN__PRIVACY__"), where,
              f"{var}: encryption settings come from Secret {ENCRYPTION_SECRET} only")


def check_tls(where: str, pod: dict, container: dict, port: int, calls_profiling: bool) -> None:
    """deploy/components/tls: files from Secret caravan-tls, TCP probes, https to profiling."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    mount = mounts.get(TLS_DIR)
    if check(mount is not None, where, f"no volume mounted at {TLS_DIR}"):
        check(mount.get("readOnly") is True, where, f"{TLS_DIR} mount must be readOnly")
        check(volumes.get(mount["name"], {}).get("secret", {}).get("secretName") == TLS_SECRET,
              where, f"{TLS_DIR} must be Secret {TLS_SECRET}")
    env = env_map(container)
    wanted = {"CARAVAN__SERVER__TLS__CERT_FILE": "tls.crt",
              "CARAVAN__SERVER__TLS__KEY_FILE": "tls.key"}
    if calls_profiling:
        wanted["CARAVAN__CLIENTS__TLS__CA_FILE"] = "ca.crt"
        check(env.get("CARAVAN__CLIENTS__PROFILING_ADDR", {}).get("value")
              == PROFILING_ADDR.replace("http://", "https://"), where,
              "with TLS, CARAVAN__CLIENTS__PROFILING_ADDR must be https://")
    for var, file in wanted.items():
        check(env.get(var, {}).get("value") == f"{TLS_DIR}/{file}", where,
              f"{var} must be {TLS_DIR}/{file}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = container.get(probe, {})
        check("grpc" not in p and p.get("tcpSocket", {}).get("port") in ("grpc", port), where,
              f"with TLS, {probe} must be tcpSocket on the gRPC port (kubelet gRPC probes are "
              f"plaintext), got {p}")


def pod_labels_of(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def rule_ports(rule: dict) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports", [])}


def check_network_policy(where: str, np: dict, pod_labels: dict, port: int | None,
                         callers: dict[str, dict], egress_to: dict[str, tuple[dict, int]]) -> None:
    """port None: no ingress at all. callers: name -> pod labels that must be admitted (same
    namespace). egress_to: name -> (pod labels, port) that must be reachable."""
    spec = np["spec"]
    check(selector_matches(spec.get("podSelector", {}), pod_labels)
          and bool(spec.get("podSelector", {}).get("matchLabels")), where,
          "podSelector does not select the workload's pods")
    check(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}, where,
          "policyTypes must be [Ingress, Egress]")
    ingress = spec.get("ingress", [])
    if port is None:
        check(not ingress, where, "must admit no ingress")
    else:
        monitoring = {"namespaceSelector": {"matchLabels": dict([MONITORING_LABEL])}}
        scrape_rules = [r for r in ingress if rule_ports(r) == {("TCP", METRICS_PORT)}]
        check(len(scrape_rules) == 1 and scrape_rules[0].get("from") == [monitoring], where,
              f"needs one ingress rule for TCP {METRICS_PORT} from namespaces labelled "
              f"{MONITORING_LABEL[0]}={MONITORING_LABEL[1]}, and only from them")
        ingress = [r for r in ingress if r not in scrape_rules]
        for rule in ingress:
            check(rule_ports(rule) == {("TCP", port)}, where,
                  f"every other ingress rule must be limited to TCP {port}")
            check(bool(rule.get("from")), where, "ingress rules must name their peers (from:)")

        def admitted(labels: dict, namespace_labels: dict | None) -> bool:
            for rule in ingress:
                for peer in rule.get("from", []):
                    if "ipBlock" in peer:
                        continue
                    ns_sel = peer.get("namespaceSelector")
                    if namespace_labels is None and ns_sel is not None:
                        continue      # other namespaces only
                    if namespace_labels is not None and (
                            ns_sel is None or not selector_matches(ns_sel, namespace_labels)):
                        continue
                    if selector_matches(peer.get("podSelector", {}), labels):
                        return True
            return False

        for name, labels in callers.items():
            check(admitted(labels, None), where, f"does not admit its caller {name}")
        client = dict([CLIENT_LABEL])
        check(admitted(client, None) and admitted(client, client), where,
              f"does not admit platform callers labelled {CLIENT_LABEL[0]}={CLIENT_LABEL[1]} "
              "(this namespace, and labelled namespaces)")
        other = {"app": "anything-else"}
        check(not admitted(other, None) and not admitted(other, client)
              and not admitted(client, {"kubernetes.io/metadata.name": "other"}), where,
              "admits unlabelled pods (here or in labelled namespaces) or pods of unlabelled "
              "namespaces")
    egress = spec.get("egress", [])
    allowed = set().union(*(rule_ports(r) for r in egress)) if egress else set()
    for proto in ("UDP", "TCP"):
        check((proto, DNS_PORT) in allowed, where, f"egress must allow DNS ({proto} {DNS_PORT})")
    check(("TCP", DB_PORT) in allowed, where, f"egress must allow the database (TCP {DB_PORT})")
    for name, (labels, to_port) in egress_to.items():
        check(any(("TCP", to_port) in rule_ports(r)
                  and any(selector_matches(peer.get("podSelector", {}), labels)
                          and "namespaceSelector" not in peer for peer in r.get("to", []))
                  for r in egress), where, f"egress must allow {name} on TCP {to_port}")


def main() -> int:
    args = sys.argv[1:]
    tls = "--tls" in args
    args = [a for a in args if a != "--tls"]
    if len(args) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(Path(args[0]).read_text()) if d]
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
          "(the pods reference Secrets caravan-database, caravan-identity, caravan-encryption, "
          "caravan-service-calls)")

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
        check(set(config) <= KNOWN_SECTIONS, where,
              f"unknown sections {sorted(set(config) - KNOWN_SECTIONS)}")
        for section, key in SECRET_SETTINGS:
            check(key not in config.get(section, {}), where,
                  f"{section}.{key} must not be in the ConfigMap (it comes from a Secret)")
        check(config.get("auth", {}).get("enabled", True) is True, where,
              "auth.enabled must not be false (refused off loopback)")
        check(not config.get("server", {}).get("tls") and not config.get("clients", {}).get("tls"),
              where, "TLS settings are per Deployment (deploy/components/tls), not in the "
              "ConfigMap")

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
        check("replicas" not in spec, where,
              "replicas must be left to the HorizontalPodAutoscaler (an apply would reset it)")
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(name)
        if check(hpa is not None, where, "needs a HorizontalPodAutoscaler of the same name"):
            hspec = hpa["spec"]
            check(hspec.get("scaleTargetRef") == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                  "name": name}, f"HorizontalPodAutoscaler/{name}",
                  "scaleTargetRef must be this Deployment")
            check(hspec.get("minReplicas", 1) >= 2 and hspec.get("maxReplicas", 0) > hspec.get("minReplicas", 1),
                  f"HorizontalPodAutoscaler/{name}",
                  "minReplicas >= 2 (the PodDisruptionBudget needs two) and maxReplicas above it")
            check(any(m.get("resource", {}).get("name") == "cpu" for m in hspec.get("metrics", [])),
                  f"HorizontalPodAutoscaler/{name}", "must scale on CPU")
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
        check_identity_env(where, c)
        check_encryption_env(where, c)
        if calls_profiling:
            check_secret_env(where, c, "CARAVAN__CLIENTS__API_KEY", SERVICE_CALLS_SECRET)
        else:
            check("CARAVAN__CLIENTS__API_KEY" not in env_map(c), where,
                  "only the callers of profiling get the service-calls key")
        if tls:
            check_tls(where, pod, c, port, calls_profiling)
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
        metrics = [p for p in c.get("ports", []) if p.get("name") == "metrics"]
        check(len(metrics) == 1 and metrics[0].get("containerPort") == METRICS_PORT, where,
              f"container port 'metrics' must be {METRICS_PORT}")
        check(env.get("CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR", {}).get("value")
              == f"0.0.0.0:{METRICS_PORT}", where,
              f"CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR must be 0.0.0.0:{METRICS_PORT}")
        notes = spec["template"]["metadata"].get("annotations", {})
        check(notes.get("prometheus.io/scrape") == "true"
              and notes.get("prometheus.io/port") == str(METRICS_PORT), where,
              "pod template needs prometheus.io/scrape and prometheus.io/port annotations")
        if calls_profiling and not tls:
            check(env.get("CARAVAN__CLIENTS__PROFILING_ADDR", {}).get("value") == PROFILING_ADDR,
                  where, f"CARAVAN__CLIENTS__PROFILING_ADDR must be {PROFILING_ADDR}")
        # Readiness follows the database; liveness asks for the name that does not.
        probes = {"startupProbe": health, "readinessProbe": health, "livenessProbe": "liveness"}
        for probe, asked in probes.items() if not tls else ():
            grpc = c.get(probe, {}).get("grpc")
            check(grpc == {"port": port, "service": asked}, where,
                  f"{probe} must be grpc {{port: {port}, service: {asked}}}, got {c.get(probe)}")
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

    # NetworkPolicies: one per workload; profiling admits its callers, every service the
    # platform's callers; egress to DNS, the database and (callers) profiling.
    policies = by_kind.get("NetworkPolicy", {})
    profiling_pods = pod_labels_of(deployments["caravan-profiling"]) \
        if "caravan-profiling" in deployments else {}
    callers = {f"caravan-{c}": pod_labels_of(deployments[f"caravan-{c}"])
               for c, (*_, calls) in SERVICES.items() if calls and f"caravan-{c}" in deployments}
    for component, (_, port, _, calls_profiling) in SERVICES.items():
        name = f"caravan-{component}"
        if name not in deployments:
            continue
        np = policies.get(name)
        if check(np is not None, f"Deployment/{name}", f"no NetworkPolicy {name}"):
            check_network_policy(
                f"NetworkPolicy/{name}", np, pod_labels_of(deployments[name]), port,
                callers if component == "profiling" else {},
                {"caravan-profiling": (profiling_pods, SERVICES["profiling"][1])}
                if calls_profiling else {})
    for np_name, np in policies.items():
        sel = np["spec"].get("podSelector", {})
        workloads = list(deployments.values()) + list(by_kind.get("Job", {}).values())
        check(any(selector_matches(sel, pod_labels_of(w)) for w in workloads),
              f"NetworkPolicy/{np_name}", "selects no workload's pods")

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
        check_encryption_env(where, c)
        np = policies.get("caravan-migrate")
        if check(np is not None, where, "no NetworkPolicy caravan-migrate"):
            check_network_policy("NetworkPolicy/caravan-migrate", np, pod_labels_of(job), None,
                                 {}, {})
            check(np["metadata"].get("labels", {}).get("app.kubernetes.io/component")
                  == job["metadata"].get("labels", {}).get("app.kubernetes.io/component"),
                  "NetworkPolicy/caravan-migrate",
                  "must share the Job's component label (applied with it in step 1)")

    # Cross-check with the Dockerfile: every binary the manifests run is built and exposed.
    if len(args) == 2:
        dockerfile = Path(args[1]).read_text()
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
