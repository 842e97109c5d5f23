#!/usr/bin/env python3
"""Properties of the rendered Kubernetes manifests that leadflow relies on.

Schema validation (kubernetes-validate) says the objects are well formed; these
tests say they do what the platform needs: native gRPC probes, a locked-down
securityContext, requests and limits, migrations in an init container, a
graceful stop longer than the drain, network policies that allow exactly the
expected paths, headless Services for the gRPC backends, an HPA per service,
and the overlay differences (prod: >= 3 replicas, PDBs, topology spread,
external datastores; dev: one replica, no PDB, its own infrastructure).

Run by k8s/check.sh (`make k8s-check`) on the manifests it rendered:

    python k8s/test_manifests.py --rendered target/k8s-rendered

or alone, rendering with kubectl itself:

    python k8s/test_manifests.py

Needs PyYAML. Prints one line per test and overlay, and exits non-zero on any
failure.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path
from urllib.parse import urlparse

import yaml

K8S_DIR = Path(__file__).resolve().parent

# service -> (gRPC port, env prefix)
SERVICES = {
    "leads": (50051, "LEADS"),
    "routing": (50052, "ROUTING"),
    "notifier": (50053, "NOTIFIER"),
}
# The services the leads service calls, balancing over DNS: they must be headless.
GRPC_BACKENDS = ("routing", "notifier")
PART_OF = {"app.kubernetes.io/part-of": "leadflow"}
CLIENT_LABEL = {"leadflow.io/client": "true"}
OVERLAYS = ("dev", "prod")
# Secrets the operator creates for prod; k8s/README.md must show how.
PROD_SECRETS = {"leadflow-auth", "leads-secrets", "routing-secrets", "notifier-secrets"}
# A generated name: `name-<10 character hash>`.
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


# --- loading ------------------------------------------------------------------


class Overlay:
    """The rendered objects of one overlay, with lookups the tests share."""

    def __init__(self, name: str, docs: list[dict]):
        self.name = name
        self.objects = [d for d in docs if d]

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict | None:
        for o in self.of_kind(kind):
            if o["metadata"]["name"] == name:
                return o
        return None

    def generated(self, kind: str, base_name: str) -> dict | None:
        """A ConfigMap/Secret by its name before kustomize added the hash."""
        for o in self.of_kind(kind):
            n = o["metadata"]["name"]
            if n == base_name or (n.startswith(base_name + "-") and HASH_SUFFIX.search(n)
                                  and n[: -11] == base_name):
                return o
        return None

    def deployment(self, service: str) -> dict:
        d = self.get("Deployment", service)
        assert d is not None, f"no Deployment {service}"
        return d

    def configmap_data(self, name: str) -> dict[str, str]:
        cm = self.get("ConfigMap", name)
        assert cm is not None, f"ConfigMap {name} is referenced but not rendered"
        return cm.get("data") or {}

    def effective_env(self, container: dict) -> dict[str, str | None]:
        """A container's environment: envFrom ConfigMaps in order, then env.
        Values from Secrets or the downward API are None (known to be set)."""
        env: dict[str, str | None] = {}
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                env.update(self.configmap_data(source["configMapRef"]["name"]))
        for var in container.get("env") or []:
            env[var["name"]] = var.get("value")
        return env


def load(rendered: Path | None) -> dict[str, Overlay]:
    overlays = {}
    for name in OVERLAYS:
        if rendered:
            text = (rendered / f"{name}.yaml").read_text()
        else:
            kubectl = os.environ.get("KUBECTL", "kubectl")
            run = subprocess.run([kubectl, "kustomize", str(K8S_DIR / "overlays" / name)],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"kubectl kustomize k8s/overlays/{name} failed:\n{run.stderr}")
            text = run.stdout
        overlays[name] = Overlay(name, list(yaml.safe_load_all(text)))
    return overlays


# --- helpers ------------------------------------------------------------------


def pod_labels(workload: dict) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """Label selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def all_containers(pod_spec: dict) -> list[tuple[str, dict]]:
    return [("init", c) for c in pod_spec.get("initContainers") or []] + [
        ("container", c) for c in pod_spec.get("containers") or []
    ]


def main_container(deployment: dict, service: str) -> dict:
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == service:
            return c
    raise AssertionError(f"Deployment {service} has no container named {service}")


def policies_for(ov: Overlay, labels: dict[str, str], direction: str) -> list[dict]:
    """Network policies that select a pod with these labels for a direction."""
    out = []
    for np in ov.of_kind("NetworkPolicy"):
        spec = np["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if direction in types and matches(spec.get("podSelector"), labels):
            out.append(np)
    return out


def rules(ov: Overlay, labels: dict[str, str], direction: str) -> list[tuple[str, dict]]:
    key = "ingress" if direction == "Ingress" else "egress"
    return [(np["metadata"]["name"], r) for np in policies_for(ov, labels, direction)
            for r in np["spec"].get(key) or []]


def rule_ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule.get("ports") or []}


def peers(rule: dict, direction: str) -> list[dict]:
    return rule.get("from" if direction == "Ingress" else "to") or []


def peer_matches_pod(peer: dict, labels: dict[str, str], same_namespace: bool = True) -> bool:
    """Whether a peer (podSelector / namespaceSelector) admits a pod with these labels.
    A peer without namespaceSelector only means the policy's own namespace."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" not in peer and not same_namespace:
        return False
    return matches(peer.get("podSelector", {}), labels)


def allowed_egress_to_pod(ov: Overlay, src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    return any(port in rule_ports(r) and any(peer_matches_pod(p, dst) for p in peers(r, "Egress"))
               for _, r in rules(ov, src, "Egress"))


def allowed_ingress_from_pod(ov: Overlay, dst: dict[str, str], src: dict[str, str], port: int,
                             same_namespace: bool = True) -> bool:
    return any(port in rule_ports(r)
               and any(peer_matches_pod(p, src, same_namespace) for p in peers(r, "Ingress"))
               for _, r in rules(ov, dst, "Ingress"))


def egress_peers_on_port(ov: Overlay, src: dict[str, str], port: int) -> list[dict]:
    return [p for _, r in rules(ov, src, "Egress") if port in rule_ports(r) for p in peers(r, "Egress")]


def seconds(env: dict[str, str | None], name: str, default: float, scale: float = 1.0) -> float:
    value = env.get(name)
    return default if value is None else float(value) / scale


class Problems(list):
    """Collects every problem of one test, so one run shows all of them."""

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.append(message)

    def raise_if_any(self) -> None:
        if self:
            raise AssertionError("\n".join(f"  - {p}" for p in self))


# --- tests: every overlay -------------------------------------------------------


def test_each_service_has_its_objects(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        p.check(ov.get("Deployment", svc) is not None, f"no Deployment {svc}")
        p.check(ov.get("Service", svc) is not None, f"no Service {svc}")
        sa = ov.get("ServiceAccount", svc)
        p.check(sa is not None, f"no ServiceAccount {svc}")
        if sa:
            p.check(sa.get("automountServiceAccountToken") is False,
                    f"ServiceAccount {svc} mounts an API token it never uses")
        p.check(ov.get("ConfigMap", f"{svc}-config") is not None or
                ov.generated("ConfigMap", f"{svc}-config") is not None, f"no ConfigMap {svc}-config")
        p.check(any(h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc}
                    for h in ov.of_kind("HorizontalPodAutoscaler")), f"no HorizontalPodAutoscaler for {svc}")
        d = ov.get("Deployment", svc)
        if d:
            spec = d["spec"]["template"]["spec"]
            p.check(spec.get("serviceAccountName") == svc, f"{svc} does not run as ServiceAccount {svc}")
            p.check(spec.get("automountServiceAccountToken") is False, f"{svc} mounts an API token")
            c = main_container(d, svc)
            refs = [s["configMapRef"]["name"] for s in c.get("envFrom") or [] if "configMapRef" in s]
            p.check(any(r.startswith(f"{svc}-config") for r in refs),
                    f"{svc} does not take its environment from its ConfigMap")
    p.raise_if_any()


def test_native_grpc_probes(ov: Overlay) -> None:
    p = Problems()
    for svc, (port, _) in SERVICES.items():
        c = main_container(ov.deployment(svc), svc)
        grpc_ports = [cp["containerPort"] for cp in c.get("ports") or [] if cp.get("name") == "grpc"]
        p.check(grpc_ports == [port], f"{svc}: container port 'grpc' is {grpc_ports}, expected {port}")
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.get(kind)
            if not probe:
                p.append(f"{svc}: no {kind}")
                continue
            p.check("grpc" in probe, f"{svc}: {kind} is not a native gRPC probe (grpc.health.v1)")
            p.check((probe.get("grpc") or {}).get("port") == port,
                    f"{svc}: {kind} probes port {(probe.get('grpc') or {}).get('port')}, expected {port}")
    p.raise_if_any()


def test_security_context(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        spec = ov.deployment(svc)["spec"]["template"]["spec"]
        pod = spec.get("securityContext") or {}
        p.check(pod.get("runAsNonRoot") is True, f"{svc}: pod securityContext lacks runAsNonRoot: true")
        p.check((pod.get("runAsUser") or 0) > 0, f"{svc}: pod runs as root (runAsUser)")
        p.check((pod.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                f"{svc}: pod seccompProfile is not RuntimeDefault")
        for where, c in all_containers(spec):
            sc = c.get("securityContext") or {}
            name = f"{svc}/{where} {c['name']}"
            p.check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation is not false")
            p.check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem is not true")
            p.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{name}: capabilities not dropped (ALL)")
            p.check(not (sc.get("capabilities") or {}).get("add"), f"{name}: adds capabilities")
            p.check(sc.get("privileged") is not True, f"{name}: privileged")
            p.check(sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, f"{name}: may run as root")
            seccomp = (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            p.check(seccomp == "RuntimeDefault", f"{name}: seccompProfile is {seccomp}")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
            volumes = {v["name"]: v for v in spec.get("volumes") or []}
            p.check("emptyDir" in volumes.get(mounts.get("/tmp", ""), {}),
                    f"{name}: no writable emptyDir at /tmp beside the read-only root filesystem")
    p.raise_if_any()


def test_resources(ov: Overlay) -> None:
    p = Problems()
    for d in ov.of_kind("Deployment") + ov.of_kind("StatefulSet"):
        for where, c in all_containers(d["spec"]["template"]["spec"]):
            res = c.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    p.check(resource in (res.get(section) or {}),
                            f"{d['kind']} {d['metadata']['name']} {where} {c['name']}: no {section}.{resource}")
    p.raise_if_any()


def test_migrations_run_in_an_init_container(ov: Overlay) -> None:
    p = Problems()
    for svc, (_, prefix) in SERVICES.items():
        d = ov.deployment(svc)
        spec = d["spec"]["template"]["spec"]
        main = main_container(d, svc)
        inits = [c for c in spec.get("initContainers") or [] if (c.get("args") or c.get("command") or [])[-1:] == ["migrate"]]
        if len(inits) != 1:
            p.append(f"{svc}: expected one init container running `{svc} migrate`, found {len(inits)}")
            continue
        init = inits[0]
        p.check(init["image"] == main["image"], f"{svc}: migrate runs {init['image']}, the server {main['image']}")
        p.check(init.get("envFrom") == main.get("envFrom"), f"{svc}: migrate does not get the server's ConfigMaps")
        db = f"{prefix}_DATABASE_URL"
        init_db = [e for e in init.get("env") or [] if e["name"] == db]
        main_db = [e for e in main.get("env") or [] if e["name"] == db]
        p.check(bool(main_db) and init_db == main_db, f"{svc}: migrate and the server read {db} differently")
        p.check("secretKeyRef" in ((main_db or [{}])[0].get("valueFrom") or {}), f"{svc}: {db} is not taken from a Secret")
        env = ov.effective_env(main)
        p.check(env.get(f"{prefix}_MIGRATE_ON_START") == "false",
                f"{svc}: {prefix}_MIGRATE_ON_START is not false although the init container migrates")
    p.raise_if_any()


def test_graceful_termination(ov: Overlay) -> None:
    p = Problems()
    leads_env = ov.effective_env(main_container(ov.deployment("leads"), "leads"))
    dns_refresh = seconds(leads_env, "LEADS_DNS_REFRESH_SECS", 10)
    for svc in SERVICES:
        d = ov.deployment(svc)
        spec = d["spec"]["template"]["spec"]
        c = main_container(d, svc)
        env = ov.effective_env(c)
        drain = seconds(env, "LEADFLOW_DRAIN_DELAY_MS", 0, 1000)
        grace = seconds(env, "LEADFLOW_SHUTDOWN_GRACE_SECS", 20)
        pre_stop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
        tgps = spec.get("terminationGracePeriodSeconds", 30)
        p.check(tgps >= pre_stop + drain + grace + 5,
                f"{svc}: terminationGracePeriodSeconds {tgps} < preStop {pre_stop} + drain {drain} + grace {grace} + 5 s margin")
        # The pause after SIGTERM (or before it, as a preStop sleep) must outlast
        # the leads clients' DNS re-resolution, or they keep calling a pod that is gone.
        p.check(pre_stop + drain >= dns_refresh,
                f"{svc}: pause on stop {pre_stop + drain} s < LEADS_DNS_REFRESH_SECS {dns_refresh} s")
        live = c.get("livenessProbe") or {}
        p.check(live.get("periodSeconds", 10) * live.get("failureThreshold", 3) >= drain + grace,
                f"{svc}: liveness could restart a draining pod (NOT_SERVING for {drain + grace} s)")
        strategy = d["spec"].get("strategy") or {}
        p.check(str((strategy.get("rollingUpdate") or {}).get("maxUnavailable")) == "0",
                f"{svc}: a rollout may take pods away before new ones are ready (maxUnavailable != 0)")
    p.raise_if_any()


def test_grpc_backends_have_headless_services(ov: Overlay) -> None:
    p = Problems()
    for svc, (port, _) in SERVICES.items():
        s = ov.get("Service", svc)
        d = ov.deployment(svc)
        if s is None:
            p.append(f"no Service {svc}")
            continue
        if svc in GRPC_BACKENDS:
            p.check(s["spec"].get("clusterIP") == "None",
                    f"Service {svc} is not headless: leads' HTTP/2 connections would pin to one pod")
        p.check(matches({"matchLabels": s["spec"].get("selector")}, pod_labels(d)),
                f"Service {svc} does not select the {svc} pods")
        p.check([pt["port"] for pt in s["spec"]["ports"]] == [port], f"Service {svc} does not expose {port}")
    # leads dials its backends by these Services' names, on their ports.
    env = ov.effective_env(main_container(ov.deployment("leads"), "leads"))
    for backend in GRPC_BACKENDS:
        url = urlparse(env.get(f"LEADS_{backend.upper()}_URL") or "")
        p.check(url.hostname == backend and url.port == SERVICES[backend][0],
                f"LEADS_{backend.upper()}_URL is {url.geturl()!r}, not the headless Service {backend}:{SERVICES[backend][0]}")
    p.raise_if_any()


def test_network_policies(ov: Overlay) -> None:
    p = Problems()
    labels = {svc: pod_labels(ov.deployment(svc)) for svc in SERVICES}

    # Default deny, both directions, for every leadflow pod.
    deny = [np for np in ov.of_kind("NetworkPolicy")
            if matches(np["spec"]["podSelector"], PART_OF) and not np["spec"].get("ingress")
            and not np["spec"].get("egress") and set(np["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}]
    p.check(bool(deny), "no default-deny NetworkPolicy (Ingress and Egress) for app.kubernetes.io/part-of=leadflow")
    for svc, l in labels.items():
        p.check(any(matches(np["spec"]["podSelector"], l) for np in deny), f"{svc} pods are not under the default deny")

    # No rule may open everything: each names its peers and its ports.
    for svc, l in labels.items():
        for direction in ("Ingress", "Egress"):
            for name, r in rules(ov, l, direction):
                p.check(bool(peers(r, direction)), f"{name}: a {direction} rule of {svc} allows every peer")
                p.check(bool(rule_ports(r)), f"{name}: a {direction} rule of {svc} allows every port")

    kube_dns = {"k8s-app": "kube-dns"}
    collector = {"app.kubernetes.io/name": "opentelemetry-collector"}
    for svc, (port, _) in SERVICES.items():
        l = labels[svc]
        # callers -> every service, from any namespace.
        p.check(allowed_ingress_from_pod(ov, l, CLIENT_LABEL, port, same_namespace=False),
                f"callers (leadflow.io/client=true, any namespace) cannot reach {svc}:{port}")
        # Nothing but callers and leads gets in.
        for _, r in rules(ov, l, "Ingress"):
            for peer in peers(r, "Ingress"):
                selects = (peer.get("podSelector") or {}).get("matchLabels") or {}
                ok = selects == CLIENT_LABEL or (
                    "namespaceSelector" not in peer and not (peer.get("podSelector") or {}).get("matchExpressions")
                    and selects.get("app.kubernetes.io/name") == "leads" and matches(peer["podSelector"], labels["leads"]))
                p.check(ok, f"{svc} admits an unexpected peer: {peer}")
        # everything -> DNS and the OTel collector.
        for proto_port in (53,):
            p.check(any(proto_port in rule_ports(r) and any(
                matches(q.get("podSelector"), kube_dns) and "namespaceSelector" in q for q in peers(r, "Egress"))
                for _, r in rules(ov, l, "Egress")), f"{svc} cannot reach cluster DNS")
        p.check(any(4317 in rule_ports(r) and any(
            matches(q.get("podSelector"), collector) for q in peers(r, "Egress"))
            for _, r in rules(ov, l, "Egress")), f"{svc} cannot reach the OTel collector (4317)")

    # leads -> routing and notifier, and they admit it.
    for backend in GRPC_BACKENDS:
        port = SERVICES[backend][0]
        p.check(allowed_egress_to_pod(ov, labels["leads"], labels[backend], port), f"leads may not call {backend}:{port}")
        p.check(allowed_ingress_from_pod(ov, labels[backend], labels["leads"], port), f"{backend} does not admit leads")
    p.check(not allowed_ingress_from_pod(ov, labels["leads"], labels["routing"], 50051),
            "routing may call leads (nothing should)")

    # Each service -> its own database only; routing -> Redis; the notifier has no Redis.
    db_peers = {svc: egress_peers_on_port(ov, labels[svc], 5432) for svc in SERVICES}
    for svc, ps in db_peers.items():
        p.check(bool(ps), f"{svc} cannot reach a database")
        for other, other_ps in db_peers.items():
            if other != svc:
                p.check(not any(q in other_ps for q in ps), f"{svc} and {other} share a database peer: {ps}")
    p.check(bool(egress_peers_on_port(ov, labels["routing"], 6379)), "routing cannot reach Redis (6379)")
    for svc in ("leads", "notifier"):
        p.check(not egress_peers_on_port(ov, labels[svc], 6379), f"{svc} may reach Redis, which it does not use")

    # The notifier -> push services (443) and SMTP (465, 587), outside the cluster.
    for port in (443, 465, 587):
        ext = [q for q in egress_peers_on_port(ov, labels["notifier"], port) if "ipBlock" in q]
        p.check(bool(ext), f"the notifier cannot reach port {port} outside the cluster")
        for q in ext:
            block = q["ipBlock"]
            if ipaddress.ip_network(block["cidr"]).version == 4:
                excluded = [ipaddress.ip_network(e) for e in block.get("except") or []]
                p.check(any(ipaddress.ip_address("169.254.169.254") in e for e in excluded),
                        f"the notifier may reach the cloud metadata address on {port}")
    for svc in ("leads", "routing"):
        for port in (443, 465, 587):
            p.check(not egress_peers_on_port(ov, labels[svc], port), f"{svc} may reach port {port}, which it does not use")
    p.raise_if_any()


def test_autoscaling_owns_the_replica_count(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        d = ov.deployment(svc)
        p.check("replicas" not in d["spec"],
                f"Deployment {svc} sets replicas: every `kubectl apply` would undo the HPA's choice")
        hpa = ov.get("HorizontalPodAutoscaler", svc)
        if hpa:
            p.check(hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], f"HPA {svc}: min > max")
            p.check(bool(hpa["spec"].get("metrics")), f"HPA {svc} has no metric")
    p.raise_if_any()


def test_configuration(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        env = ov.effective_env(main_container(ov.deployment(svc), svc))
        p.check(env.get("LEADFLOW_LOG_FORMAT") == "json", f"{svc}: logs are not JSON")
        p.check((env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").endswith(":4317"),
                f"{svc}: OTEL_EXPORTER_OTLP_ENDPOINT is not an OTLP/gRPC endpoint")
        p.check(bool(env.get("LEADFLOW_AUTH_PUBLIC_KEYS") or env.get("LEADFLOW_AUTH_JWKS_FILE")),
                f"{svc}: no public keys to verify tokens with")
        p.check("LEADFLOW_AUTH_HS256_SECRET" not in env, f"{svc}: an HS256 secret is configured")
        # Every key file named in the environment is mounted.
        c = main_container(ov.deployment(svc), svc)
        mounts = [m["mountPath"] for m in c.get("volumeMounts") or []]
        files = (env.get("LEADFLOW_AUTH_PUBLIC_KEYS") or "").split(",") + [env.get("LEADS_SERVICE_KEY_FILE") or ""]
        for f in filter(None, files):
            p.check(any(f.startswith(m.rstrip("/") + "/") for m in mounts), f"{svc}: {f} is not on a mounted volume")
    routing_keys = ov.effective_env(main_container(ov.deployment("routing"), "routing")).get("LEADFLOW_AUTH_PUBLIC_KEYS") or ""
    notifier_keys = ov.effective_env(main_container(ov.deployment("notifier"), "notifier")).get("LEADFLOW_AUTH_PUBLIC_KEYS") or ""
    for name, keys in (("routing", routing_keys), ("notifier", notifier_keys)):
        p.check("leads-service" in keys, f"{name} does not trust the leads service's public key")
    p.raise_if_any()


def test_namespace_enforces_restricted_pod_security(ov: Overlay) -> None:
    p = Problems()
    namespaces = ov.of_kind("Namespace")
    p.check(len(namespaces) == 1, f"expected one Namespace, found {len(namespaces)}")
    for ns in namespaces:
        p.check(ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted",
                f"Namespace {ns['metadata']['name']} does not enforce the restricted Pod Security Standard")
    # Then every pod must meet it, or the API server refuses it.
    for w in ov.of_kind("Deployment") + ov.of_kind("StatefulSet"):
        spec = w["spec"]["template"]["spec"]
        pod = spec.get("securityContext") or {}
        for where, c in all_containers(spec):
            sc = c.get("securityContext") or {}
            name = f"{w['kind']} {w['metadata']['name']} {where} {c['name']}"
            p.check(sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, f"{name}: restricted needs runAsNonRoot")
            p.check(sc.get("allowPrivilegeEscalation") is False, f"{name}: restricted needs allowPrivilegeEscalation: false")
            p.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{name}: restricted needs capabilities drop ALL")
            p.check((sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost"),
                    f"{name}: restricted needs a seccomp profile")
    p.raise_if_any()


# --- tests: dev ---------------------------------------------------------------


def test_dev_runs_one_replica_and_no_pdb(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        hpa = ov.get("HorizontalPodAutoscaler", svc)
        p.check(hpa is not None and hpa["spec"]["minReplicas"] == 1, f"dev: {svc} does not start with one replica")
    p.check(not ov.of_kind("PodDisruptionBudget"), "dev has a PodDisruptionBudget: one replica would block node drains")
    p.raise_if_any()


def test_dev_is_self_contained(ov: Overlay) -> None:
    """One `kubectl apply -k` gives a working system: every reference resolves
    inside the overlay, and every host the services dial is a Service in it."""
    p = Problems()
    services = {s["metadata"]["name"]: s for s in ov.of_kind("Service")}
    secrets = {s["metadata"]["name"]: s for s in ov.of_kind("Secret")}
    for w in ov.of_kind("Deployment") + ov.of_kind("StatefulSet"):
        spec = w["spec"]["template"]["spec"]
        for _, c in all_containers(spec):
            for src in c.get("envFrom") or []:
                ref = src.get("configMapRef") or src.get("secretRef")
                kind = "ConfigMap" if "configMapRef" in src else "Secret"
                p.check(ov.get(kind, ref["name"]) is not None, f"{w['metadata']['name']}: {kind} {ref['name']} missing")
            for var in c.get("env") or []:
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    secret = secrets.get(ref["name"])
                    p.check(ref.get("optional") is True or (secret is not None and ref["key"] in secret.get("data", {})),
                            f"{w['metadata']['name']}: {var['name']} needs {ref['name']}/{ref['key']}, not rendered")
        for v in spec.get("volumes") or []:
            if "secret" in v:
                secret = secrets.get(v["secret"]["secretName"])
                p.check(secret is not None, f"{w['metadata']['name']}: Secret {v['secret']['secretName']} missing")
                for item in v["secret"].get("items") or []:
                    p.check(secret is not None and item["key"] in secret.get("data", {}),
                            f"{w['metadata']['name']}: Secret {v['secret']['secretName']} has no {item['key']}")
            if "configMap" in v:
                p.check(ov.get("ConfigMap", v["configMap"]["name"]) is not None,
                        f"{w['metadata']['name']}: ConfigMap {v['configMap']['name']} missing")
    # The hosts in the services' URLs are Services here, and the network
    # policies let each service reach its own.
    import base64
    labels = {svc: pod_labels(ov.deployment(svc)) for svc in SERVICES}
    for svc, (_, prefix) in SERVICES.items():
        secret = ov.generated("Secret", f"{svc}-secrets")
        p.check(secret is not None, f"dev: Secret {svc}-secrets missing")
        if not secret:
            continue
        data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        for key in ("database-url", "state-url", "smtp-url"):
            if key not in data:
                continue
            url = urlparse(data[key])
            host = url.hostname
            p.check(host in services, f"dev: {svc} {key} names {host}, which is no Service here")
            if host in services:
                target = [w for w in ov.of_kind("Deployment") + ov.of_kind("StatefulSet")
                          if matches({"matchLabels": services[host]["spec"]["selector"]}, pod_labels(w))]
                p.check(len(target) == 1, f"dev: Service {host} selects {len(target)} workloads")
                if len(target) == 1:
                    port = url.port or {"postgres": 5432, "redis": 6379, "smtp": 25}[url.scheme]
                    p.check(allowed_egress_to_pod(ov, labels[svc], pod_labels(target[0]), port),
                            f"dev: the network policies keep {svc} from {host}:{port} ({key})")
    # ... and no other service's database.
    for w in ov.of_kind("StatefulSet") + ov.of_kind("Deployment"):
        owner = pod_labels(w).get("leadflow.io/database")
        for svc in SERVICES:
            if owner and owner != svc:
                p.check(not allowed_egress_to_pod(ov, labels[svc], pod_labels(w), 5432),
                        f"dev: {svc} may reach {owner}'s database {w['metadata']['name']}")
    otel = urlparse(ov.effective_env(main_container(ov.deployment("leads"), "leads"))["OTEL_EXPORTER_OTLP_ENDPOINT"])
    p.check(otel.hostname in services, f"dev: no Service {otel.hostname} for the OTel collector")
    p.raise_if_any()


def test_dev_keys_are_marked_as_development_keys(ov: Overlay) -> None:
    """The committed dev keys carry leadflow's development-key marker, which
    LEADFLOW_ENV=production refuses; dev therefore runs in development mode."""
    p = Problems()
    marker = "leadflow development key"
    for name in ("idp.key.pem", "idp.pem", "leads-service.key.pem", "leads-service.pem"):
        text = (K8S_DIR / "overlays" / "dev" / "secrets" / name).read_text()
        p.check(text.startswith(marker), f"overlays/dev/secrets/{name} lacks the development-key marker")
    env = ov.effective_env(main_container(ov.deployment("leads"), "leads"))
    p.check(env.get("LEADFLOW_ENV") == "development", "dev runs marked development keys but not LEADFLOW_ENV=development")
    p.raise_if_any()


# --- tests: prod --------------------------------------------------------------


def test_prod_runs_three_or_more_replicas_with_pdbs_and_spread(ov: Overlay) -> None:
    p = Problems()
    for svc in SERVICES:
        d = ov.deployment(svc)
        l = pod_labels(d)
        hpa = ov.get("HorizontalPodAutoscaler", svc)
        p.check(hpa is not None and hpa["spec"]["minReplicas"] >= 3, f"prod: {svc} may run fewer than 3 replicas")
        pdbs = [b for b in ov.of_kind("PodDisruptionBudget") if matches(b["spec"]["selector"], l)]
        p.check(len(pdbs) == 1, f"prod: {len(pdbs)} PodDisruptionBudgets select {svc}")
        for b in pdbs:
            p.check(b["spec"].get("maxUnavailable") == 1 or (b["spec"].get("minAvailable") or 0) >= 2,
                    f"prod: PDB {b['metadata']['name']} lets too many {svc} pods go at once")
        spread = d["spec"]["template"]["spec"].get("topologySpreadConstraints") or []
        keys = {t["topologyKey"] for t in spread if matches(t.get("labelSelector"), l)}
        p.check({"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys,
                f"prod: {svc} is not spread over nodes and zones (has {sorted(keys)})")
    p.raise_if_any()


def test_prod_uses_external_datastores_and_operator_secrets(ov: Overlay) -> None:
    p = Problems()
    p.check(not ov.of_kind("Secret"), "prod renders Secrets: they must be created by the operator, not committed")
    p.check(not ov.of_kind("StatefulSet"), "prod runs a StatefulSet (an in-cluster datastore?)")
    labels = {svc: pod_labels(ov.deployment(svc)) for svc in SERVICES}
    for svc in SERVICES:
        ps = egress_peers_on_port(ov, labels[svc], 5432)
        p.check(bool(ps) and all("ipBlock" in q for q in ps), f"prod: {svc}'s database egress is not an address range")
    ps = egress_peers_on_port(ov, labels["routing"], 6379)
    p.check(bool(ps) and all("ipBlock" in q for q in ps), "prod: routing's Redis egress is not an address range")
    for svc in SERVICES:
        env = ov.effective_env(main_container(ov.deployment(svc), svc))
        p.check(env.get("LEADFLOW_ENV") == "production", f"prod: {svc} does not run with LEADFLOW_ENV=production")
        image = main_container(ov.deployment(svc), svc)["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        p.check(tag not in ("", "latest", "dev"), f"prod: {svc} runs image {image} without a release tag")
    # Every Secret the manifests reference is one k8s/README.md tells the operator to create, with every key.
    referenced: dict[str, set[str]] = {}
    for svc in SERVICES:
        spec = ov.deployment(svc)["spec"]["template"]["spec"]
        for _, c in all_containers(spec):
            for var in c.get("env") or []:
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
        for v in spec.get("volumes") or []:
            if "secret" in v:
                referenced.setdefault(v["secret"]["secretName"], set()).update(
                    i["key"] for i in v["secret"].get("items") or [])
    p.check(set(referenced) == PROD_SECRETS, f"prod references Secrets {sorted(referenced)}, expected {sorted(PROD_SECRETS)}")
    readme = (K8S_DIR / "README.md").read_text()
    documented: dict[str, set[str]] = {}
    for m in re.finditer(r"kubectl\b[^\n]*?create secret generic (\S+)((?:[^\n]*\\\n)*[^\n]*)", readme):
        documented[m.group(1)] = set(re.findall(r"--from-(?:file|literal)=([\w.-]+)=", m.group(2)))
    for name, keys in referenced.items():
        p.check(name in documented, f"k8s/README.md does not show how to create Secret {name}")
        if name in documented:
            p.check(keys <= documented[name], f"k8s/README.md: Secret {name} lacks keys {sorted(keys - documented[name])}")
    p.raise_if_any()


TESTS = [
    (test_each_service_has_its_objects, OVERLAYS),
    (test_native_grpc_probes, OVERLAYS),
    (test_security_context, OVERLAYS),
    (test_resources, OVERLAYS),
    (test_migrations_run_in_an_init_container, OVERLAYS),
    (test_graceful_termination, OVERLAYS),
    (test_grpc_backends_have_headless_services, OVERLAYS),
    (test_network_policies, OVERLAYS),
    (test_autoscaling_owns_the_replica_count, OVERLAYS),
    (test_configuration, OVERLAYS),
    (test_namespace_enforces_restricted_pod_security, OVERLAYS),
    (test_dev_runs_one_replica_and_no_pdb, ("dev",)),
    (test_dev_is_self_contained, ("dev",)),
    (test_dev_keys_are_marked_as_development_keys, ("dev",)),
    (test_prod_runs_three_or_more_replicas_with_pdbs_and_spread, ("prod",)),
    (test_prod_uses_external_datastores_and_operator_secrets, ("prod",)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rendered", type=Path, help="directory with dev.yaml and prod.yaml (default: render now)")
    args = parser.parse_args()
    overlays = load(args.rendered)
    passed = failed = 0
    for test, names in TESTS:
        for name in names:
            label = f"{name:4} {test.__name__.removeprefix('test_')}"
            try:
                test(overlays[name])
            except AssertionError as e:
                failed += 1
                print(f"FAIL {label}\n{e}")
            except Exception:  # a broken manifest shape is a failure too, with its trace
                failed += 1
                print(f"FAIL {label} (error)\n{traceback.format_exc()}")
            else:
                passed += 1
                print(f"ok   {label}")
    print(f"k8s-manifests: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
