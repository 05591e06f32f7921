#!/usr/bin/env python3
"""Offline check of the weft Helm chart (run by scripts/check-helm.sh).

* Renders the chart with Helm's own template engine (the Helm v4 Go SDK, bundled as a C
  library in the `helm-python-sdk` wheel: the same code `helm template` runs), with the
  default values, with ci-values.yaml, and with a few variants; runs `helm lint --strict`.
* Validates every rendered manifest against the Kubernetes OpenAPI schemas shipped in the
  `kubernetes-validate` wheel, strict (unknown fields are errors), for the oldest Kubernetes
  the chart supports (Chart.yaml kubeVersion) and the newest the package knows. A manifest
  whose kind has no schema is an error, not a warning.
* Checks what the schemas cannot: the objects agree with each other (selectors, named
  ports, volumes, Secret references), and the values the issue asks for are rendered
  (mount path, args, probes, grace period, security context, env names).
* Renders that must fail (unsupported settings) fail with their message.
* Every key in values.yaml has a comment.

Exits 1 on the first group of problems, printing each one. Needs no network.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

# The chart directory: deploy/helm/weft, or the first argument (to check a modified copy).
CHART = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent / "weft"
RELEASE = "weft"
NAMESPACE = "weft-ci"
DATA_PATH = "/var/lib/weaviate"

problems: list[str] = []


def problem(case: str, msg: str) -> None:
    problems.append(f"[{case}] {msg}")


def kube_versions() -> list[str]:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    m = re.search(r"(\d+\.\d+)", chart["kubeVersion"])
    assert m, "Chart.yaml kubeVersion has no version"
    oldest = m.group(1)
    newest = kubernetes_validate.utils.latest_version()
    shipped = kubernetes_validate.utils.all_versions()
    if oldest not in {kubernetes_validate.utils.major_minor(v) for v in shipped}:
        raise SystemExit(f"kubernetes-validate has no schemas for {oldest} (Chart.yaml kubeVersion)")
    return [oldest, kubernetes_validate.utils.major_minor(newest)]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render(chart: helm.Chart, values: dict[str, Any] | None) -> dict[str, str]:
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("_source", path)
                docs.append(doc)
    return docs


def validate_schemas(case: str, docs: list[dict[str, Any]], versions: list[str]) -> int:
    checked = 0
    for doc in docs:
        body = {k: v for k, v in doc.items() if k != "_source"}
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')} ({doc['_source']})"
        for version in versions:
            try:
                kubernetes_validate.validate(body, version, strict=True)
                checked += 1
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problem(case, f"{name} against Kubernetes {version}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                problem(case, f"{name}: {e.message}")
    return checked


DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def consistency(case: str, docs: list[dict[str, Any]], external_secrets: set[str]) -> None:
    """What the API server or the kubelet would reject, or what would silently not work."""
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    for kind, name in names:
        if names.count((kind, name)) > 1:
            problem(case, f"{kind}/{name} rendered twice")
        if len(name) > 63 or not DNS1123.match(name):
            problem(case, f"{kind}/{name}: not a DNS-1123 label")
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    for name, s in secrets.items():
        for key, value in (s.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                problem(case, f"Secret/{name}: data.{key} is not base64")
    services = by_kind(docs, "Service")
    sts_list = by_kind(docs, "StatefulSet")
    if len(sts_list) != 1:
        problem(case, f"{len(sts_list)} StatefulSets rendered, expected 1")
        return
    sts = sts_list[0]
    spec = sts["spec"]
    pod = spec["template"]
    labels = pod["metadata"].get("labels") or {}
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            problem(case, f"StatefulSet selector {k}={v} does not match the pod labels")
    headless = [s for s in services if s["metadata"]["name"] == spec["serviceName"]]
    if not headless or headless[0]["spec"].get("clusterIP") != "None":
        problem(case, f"StatefulSet serviceName {spec['serviceName']} is not a rendered headless Service")
    containers = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
    for c in containers:
        pnames = [p["name"] for p in c.get("ports", [])]
        if len(pnames) != len(set(pnames)):
            problem(case, f"container {c['name']}: duplicate port names {pnames}")
        for p in pnames:
            if len(p) > 15:
                problem(case, f"container {c['name']}: port name {p} longer than 15 characters")
    for s in services:
        sel = s["spec"].get("selector") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problem(case, f"Service/{s['metadata']['name']} selector {sel} does not select the pod")
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and tp not in ports:
                problem(case, f"Service/{s['metadata']['name']} targets port {tp!r}, not a container port")
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
    for name in set(volumes) & claims:
        problem(case, f"volume {name} is both a pod volume and a claim template")
    for c in containers:
        mounts = c.get("volumeMounts") or []
        paths = [m["mountPath"] for m in mounts]
        if len(paths) != len(set(paths)):
            problem(case, f"container {c['name']}: a mount path is used twice: {paths}")
        for m in mounts:
            if m["name"] not in volumes and m["name"] not in claims:
                problem(case, f"mount {m['name']} has no volume or claim template")
        env = c.get("env") or []
        env_names = [e["name"] for e in env]
        for n in env_names:
            if env_names.count(n) > 1:
                problem(case, f"env {n} is set {env_names.count(n)} times")
            if not ENV_NAME.match(n):
                problem(case, f"env {n} is not a valid variable name")
        for e in env:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                continue
            if ref["name"] in secrets:
                if ref["key"] not in (secrets[ref["name"]].get("data") or {}):
                    problem(case, f"env {e['name']}: Secret/{ref['name']} has no key {ref['key']}")
            elif ref["name"] not in external_secrets:
                problem(case, f"env {e['name']}: Secret/{ref['name']} is neither rendered nor named in values")
    for v in volumes.values():
        secret = (v.get("secret") or {}).get("secretName")
        if secret and secret not in secrets and secret not in external_secrets:
            problem(case, f"volume {v['name']}: Secret/{secret} is neither rendered nor named in values")


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    sts = by_kind(docs, "StatefulSet")[0]
    return sts["spec"]["template"]["spec"]["containers"][0]


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs).get("env") or []}


def expect(case: str, what: str, got: Any, want: Any) -> None:
    if got != want:
        problem(case, f"{what}: got {got!r}, want {want!r}")


def common_expectations(case: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """What every render must carry, derived from the merged values."""
    sts = by_kind(docs, "StatefulSet")[0]
    pod = sts["spec"]["template"]["spec"]
    c = container(docs)
    env = env_of(docs)
    expect(case, "image", c["image"], f"{values['image']['repository']}:{values['image']['tag']}")
    expect(case, "imagePullPolicy", c["imagePullPolicy"], values["image"]["pullPolicy"])
    graceful = int(values["shutdown"]["gracefulTimeoutSeconds"])
    args = c["args"]
    expect(case, "args", args[:6], ["--host", "0.0.0.0", "--port", "8080", "--scheme", "http"])
    expect(case, "--graceful-timeout", args[args.index("--graceful-timeout") + 1], f"{graceful}s")
    grace = pod["terminationGracePeriodSeconds"]
    if values.get("terminationGracePeriodSeconds") is None:
        expect(case, "terminationGracePeriodSeconds", grace, 2 * graceful + int(values["shutdown"]["flushSeconds"]))
    if grace <= 2 * graceful:
        problem(case, f"terminationGracePeriodSeconds {grace} does not cover 2 x {graceful}s of draining")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expect(case, "container ports", ports, {"http": 8080, "grpc": 50051, "metrics": int(env["PROMETHEUS_MONITORING_PORT"])})
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    claims = {t["metadata"]["name"]: t for t in sts["spec"]["volumeClaimTemplates"]}
    data_claim = claims.get(mounts.get(DATA_PATH))
    if not data_claim:
        problem(case, f"{DATA_PATH} is not mounted from a claim template")
    else:
        expect(case, "data claim size", data_claim["spec"]["resources"]["requests"]["storage"], values["storage"]["size"])
        expect(case, "data claim class", data_claim["spec"].get("storageClassName", ""), values["storage"]["storageClassName"])
    expect(case, "PERSISTENCE_DATA_PATH", env.get("PERSISTENCE_DATA_PATH"), DATA_PATH)
    expect(case, "CLUSTER_HOSTNAME", env.get("CLUSTER_HOSTNAME"), {"fieldRef": {"fieldPath": "metadata.name"}})
    expect(case, "QUERY_DEFAULTS_LIMIT", env.get("QUERY_DEFAULTS_LIMIT"), str(values["query_defaults"]["limit"]))
    for probe, path in [("livenessProbe", "/v1/.well-known/live"), ("readinessProbe", "/v1/.well-known/ready"), ("startupProbe", "/v1/.well-known/ready")]:
        expect(case, f"{probe} path", c.get(probe, {}).get("httpGet", {}).get("path"), path)
        expect(case, f"{probe} port", c.get(probe, {}).get("httpGet", {}).get("port"), "http")
    psc = pod.get("securityContext") or {}
    for k, v in {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000}.items():
        expect(case, f"pod securityContext.{k}", psc.get(k), v)
    svc = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    rest = svc.get(RELEASE)
    if not rest:
        problem(case, "no REST Service")
    else:
        expect(case, "REST Service target", rest["spec"]["ports"][0]["targetPort"], "http")
    grpc = svc.get(f"{RELEASE}-grpc")
    if not grpc:
        problem(case, "no gRPC Service")
    else:
        expect(case, "gRPC Service target", grpc["spec"]["ports"][0]["targetPort"], "grpc")
    metrics_on = str(values["env"].get("PROMETHEUS_MONITORING_ENABLED")).lower() == "true"
    expect(case, "metrics Service rendered", f"{RELEASE}-metrics" in svc, metrics_on)
    expect(case, "PROMETHEUS_MONITORING_ENABLED", env.get("PROMETHEUS_MONITORING_ENABLED"), str(metrics_on).lower())


def secret_value(docs: list[dict[str, Any]], name: str, key: str) -> str | None:
    for s in by_kind(docs, "Secret"):
        if s["metadata"]["name"] == name:
            raw = (s.get("data") or {}).get(key)
            return None if raw is None else base64.b64decode(raw).decode()
    return None


def check_case(case: str, chart: helm.Chart, defaults: dict[str, Any], overrides: dict[str, Any] | None, versions: list[str], external: set[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    values = deep_merge(defaults, overrides or {})
    before = len(problems)
    try:
        docs = manifests(render(chart, overrides))
    except helm.HelmError as e:
        problem(case, f"render failed: {e}")
        return [], values
    n = validate_schemas(case, docs, versions)
    consistency(case, docs, external)
    if by_kind(docs, "StatefulSet"):
        try:
            common_expectations(case, docs, values)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            problem(case, f"an expected field is missing or malformed: {e!r}")
    kinds = ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
    status = "ok" if len(problems) == before else f"{len(problems) - before} problem(s)"
    print(f"  {case}: {len(docs)} manifests, {n} schema validations (Kubernetes {' and '.join(versions)}): {status}")
    print(f"    {kinds}")
    return docs, values


def must_fail(case: str, chart: helm.Chart, overrides: dict[str, Any], message: str) -> None:
    try:
        render(chart, overrides)
    except helm.HelmError as e:
        if message not in str(e):
            problem(case, f"render failed, but without {message!r}: {e}")
        else:
            print(f"  refused as it should: {case}")
        return
    problem(case, f"render succeeded; it must fail with {message!r}")


KEY_LINE = re.compile(r"^(\s*)(?:- )?([A-Za-z0-9_./-]+):(\s|$)")


def check_values_documented(path: Path) -> int:
    """Every key of values.yaml has a comment: on the lines right above it or at its end."""
    lines = path.read_text().splitlines()
    keys = 0
    for i, line in enumerate(lines):
        m = KEY_LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        keys += 1
        if "#" in line.split(":", 1)[1]:
            continue
        j = i - 1
        if j >= 0 and lines[j].lstrip().startswith("#"):
            continue
        problem("values.yaml", f"line {i + 1}: {m.group(2)} has no comment")
    return keys


def main() -> int:
    versions = kube_versions()
    print(f"helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}), "
          f"kubernetes-validate {kubernetes_validate.__version__}")
    ci_values_yaml = (CHART / "ci-values.yaml").read_text()
    ci_values = helm.values_from_yaml(ci_values_yaml)

    for label, values in [("default values", None), ("ci-values.yaml", ci_values)]:
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{versions[0]}.0")
        for msg in report["messages"]:
            if msg["severity"] >= 2:
                problem(f"lint {label}", f"{msg['path']}: {msg['error']}")
        for err in report["errors"]:
            problem(f"lint {label}", err)
    print(f"  helm lint --strict (default values, ci-values.yaml): {'ok' if not problems else 'problems'}")

    with helm.Chart.load(CHART) as chart:
        defaults = chart.values

        # Default values: anonymous access, no auth Secret, no metrics Service, no modules.
        docs, _ = check_case("default values", chart, defaults, None, versions, set())
        if docs:
            env = env_of(docs)
            expect("default values", "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED", env.get("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"), "true")
            expect("default values", "AUTHENTICATION_APIKEY_ENABLED", env.get("AUTHENTICATION_APIKEY_ENABLED"), "false")
            expect("default values", "ENABLE_MODULES", env.get("ENABLE_MODULES"), None)
            expect("default values", "Secrets", by_kind(docs, "Secret"), [])
            expect("default values", "replicas", by_kind(docs, "StatefulSet")[0]["spec"]["replicas"], 1)
            expect("default values", "terminationGracePeriodSeconds", by_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 60)
            for name in ["AUTOSCHEMA_ENABLED", "DISK_USE_WARNING_PERCENTAGE", "DISK_USE_READONLY_PERCENTAGE", "PROMETHEUS_MONITORING_PORT", "LOG_LEVEL", "LOG_FORMAT"]:
                if name not in env:
                    problem("default values", f"env {name} missing")

        # ci-values.yaml: API keys + admin list, metrics, S3 (+ filesystem) backups.
        docs, values = check_case("ci-values.yaml", chart, defaults, ci_values, versions, {"ci-session-token"})
        if docs:
            case = "ci-values.yaml"
            env = env_of(docs)
            ak = values["authentication"]["apikey"]
            expect(case, "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED", env.get("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"), "false")
            expect(case, "AUTHENTICATION_APIKEY_ENABLED", env.get("AUTHENTICATION_APIKEY_ENABLED"), "true")
            for var, key in [("AUTHENTICATION_APIKEY_ALLOWED_KEYS", "allowed_keys"), ("AUTHENTICATION_APIKEY_USERS", "users")]:
                expect(case, var, env.get(var), {"secretKeyRef": {"name": f"{RELEASE}-apikeys", "key": var}})
                expect(case, f"Secret {var}", secret_value(docs, f"{RELEASE}-apikeys", var), ",".join(ak[key]))
            pod_yaml = yaml.safe_dump(by_kind(docs, "StatefulSet")[0])
            for key in ak["allowed_keys"]:
                if key in pod_yaml:
                    problem(case, "an API key appears in the StatefulSet")
            expect(case, "AUTHORIZATION_ADMINLIST_ENABLED", env.get("AUTHORIZATION_ADMINLIST_ENABLED"), "true")
            expect(case, "AUTHORIZATION_ADMINLIST_USERS", env.get("AUTHORIZATION_ADMINLIST_USERS"), "admin")
            expect(case, "AUTHORIZATION_ADMINLIST_READONLY_USERS", env.get("AUTHORIZATION_ADMINLIST_READONLY_USERS"), "reader")
            expect(case, "ENABLE_MODULES", env.get("ENABLE_MODULES"), "backup-filesystem,backup-s3")
            for k, v in values["backups"]["s3"]["envconfig"].items():
                expect(case, k, env.get(k), str(v).lower() if isinstance(v, bool) else str(v))
            for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
                expect(case, k, env.get(k), {"secretKeyRef": {"name": f"{RELEASE}-backup-s3", "key": k}})
                expect(case, f"Secret {k}", secret_value(docs, f"{RELEASE}-backup-s3", k), values["backups"]["s3"]["secrets"][k])
            expect(case, "AWS_SESSION_TOKEN (envSecrets)", env.get("AWS_SESSION_TOKEN"), {"secretKeyRef": {"name": "ci-session-token", "key": "AWS_SESSION_TOKEN"}})
            expect(case, "BACKUP_FILESYSTEM_PATH", env.get("BACKUP_FILESYSTEM_PATH"), "/var/lib/weaviate-backups")
            expect(case, "GRPC_MAX_MESSAGE_SIZE (no float notation)", env.get("GRPC_MAX_MESSAGE_SIZE"), "104858000")
            expect(case, "PERSISTENCE_MEMTABLES_MAX_SIZE_MB (fraction)", env.get("PERSISTENCE_MEMTABLES_MAX_SIZE_MB"), "0.25")
            expect(case, "PERSISTENCE_WAL_SYNC (extraEnv)", env.get("PERSISTENCE_WAL_SYNC"), "sync")
            expect(case, "terminationGracePeriodSeconds", by_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 120)
            mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
            expect(case, "backup mount", mounts.get("/var/lib/weaviate-backups"), "weft-backups")

        # Variants: an existing API-key Secret, GCS and Azure from existing Secrets and from
        # values, filesystem backups on an emptyDir and on an existing claim, 0 replicas, an
        # explicit grace period, env overriding a chart-set variable.
        variants: list[tuple[str, dict[str, Any], set[str]]] = [
            ("existing API-key Secret", {
                "authentication": {"anonymous_access": {"enabled": False}, "apikey": {"enabled": True, "existingSecret": "my-keys", "existingSecretKeys": {"allowedKeys": "keys", "users": "users"}}},
            }, {"my-keys"}),
            ("gcs + azure from values", {
                "backups": {
                    "gcs": {"enabled": True, "secrets": {"GOOGLE_APPLICATION_CREDENTIALS": '{"type": "service_account"}'}},
                    "azure": {"enabled": True, "secrets": {"AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": "key"}},
                },
            }, set()),
            ("gcs + azure + s3 from existing Secrets", {
                "backups": {
                    "gcs": {"enabled": True, "envSecrets": {"GOOGLE_APPLICATION_CREDENTIALS": "gcs-key"}},
                    "azure": {"enabled": True, "envSecrets": {"AZURE_STORAGE_ACCOUNT": "az", "AZURE_STORAGE_KEY": "az"}},
                    "s3": {"enabled": True, "envSecrets": {"AWS_ACCESS_KEY_ID": "s3", "AWS_SECRET_ACCESS_KEY": "s3"}},
                },
                "serviceAccountName": "weft-backups",
            }, {"gcs-key", "az", "s3"}),
            ("filesystem backups on an emptyDir", {"backups": {"filesystem": {"enabled": True}}}, set()),
            ("filesystem backups on an existing claim", {"backups": {"filesystem": {"enabled": True, "existingClaim": "shared-backups"}}}, set()),
        ]
        for case, overrides, external in variants:
            docs, _ = check_case(case, chart, defaults, overrides, versions, external)
            if case == "existing API-key Secret" and docs:
                env = env_of(docs)
                expect(case, "AUTHENTICATION_APIKEY_ALLOWED_KEYS", env.get("AUTHENTICATION_APIKEY_ALLOWED_KEYS"), {"secretKeyRef": {"name": "my-keys", "key": "keys"}})
                expect(case, "Secrets", by_kind(docs, "Secret"), [])
            if case == "gcs + azure from values" and docs:
                env = env_of(docs)
                expect(case, "ENABLE_MODULES", env.get("ENABLE_MODULES"), "backup-gcs,backup-azure")
                expect(case, "GOOGLE_APPLICATION_CREDENTIALS", env.get("GOOGLE_APPLICATION_CREDENTIALS"), "/etc/gcp/credentials.json")
                mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
                expect(case, "/etc/gcp mount", mounts.get("/etc/gcp"), "gcs-credentials")
            if case == "filesystem backups on an existing claim" and docs:
                vols = {v["name"]: v for v in by_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]["volumes"]}
                expect(case, "backups volume", vols.get("backups", {}).get("persistentVolumeClaim"), {"claimName": "shared-backups"})
        # This one turns off what common_expectations requires (the startup probe, the gRPC
        # Service): schemas and consistency, plus its own expectations.
        case = "0 replicas, explicit grace, env overrides"
        overrides = {
            "replicas": 0, "terminationGracePeriodSeconds": 600,
            "env": {"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true", "ENABLE_MODULES": ""},
            "startupProbe": {"enabled": False}, "grpcService": {"enabled": False},
        }
        docs = manifests(render(chart, overrides))
        before = len(problems)
        n = validate_schemas(case, docs, versions)
        consistency(case, docs, set())
        sts = by_kind(docs, "StatefulSet")[0]
        env = env_of(docs)
        expect(case, "replicas", sts["spec"]["replicas"], 0)
        expect(case, "terminationGracePeriodSeconds", sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 600)
        expect(case, "startupProbe", "startupProbe" in container(docs), False)
        expect(case, "gRPC Service", any(s["metadata"]["name"] == f"{RELEASE}-grpc" for s in by_kind(docs, "Service")), False)
        expect(case, "ENABLE_MODULES from env", env.get("ENABLE_MODULES"), "")
        expect(case, "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED from env", env.get("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"), "true")
        print(f"  {case}: {len(docs)} manifests, {n} schema validations: {'ok' if len(problems) == before else 'problems'}")

        # Settings weft cannot honour stop the render with a message.
        must_fail("3 replicas", chart, {"replicas": 3}, "weft has no clustering yet")
        must_fail("OIDC", chart, {"authentication": {"oidc": {"enabled": True}}}, "does not support OIDC")
        must_fail("RBAC", chart, {"authorization": {"rbac": {"enabled": True}}}, "does not support RBAC")
        must_fail("API keys without keys", chart, {"authentication": {"apikey": {"enabled": True}}}, "needs authentication.apikey.allowed_keys")
        must_fail("2 users for 3 keys", chart, {"authentication": {"apikey": {"enabled": True, "allowed_keys": ["a", "b", "c"], "users": ["x", "y"]}}}, "one user for all keys or one per key")
        must_fail("no way in", chart, {"authentication": {"anonymous_access": {"enabled": False}}}, "no request can get in")
        must_fail("PERSISTENCE_DATA_PATH in env", chart, {"env": {"PERSISTENCE_DATA_PATH": "/data"}}, "env.PERSISTENCE_DATA_PATH is set by the chart")
        must_fail("GRPC_PORT in extraEnv", chart, {"extraEnv": [{"name": "GRPC_PORT", "value": "1"}]}, "extraEnv GRPC_PORT is set by the chart")
        must_fail("grace shorter than the drain", chart, {"terminationGracePeriodSeconds": 20}, "must be more than 2 x shutdown.gracefulTimeoutSeconds")
        must_fail("graceful timeout not whole", chart, {"shutdown": {"gracefulTimeoutSeconds": 1.5}}, "whole number of seconds")
        must_fail("backups inside the data volume", chart, {"backups": {"filesystem": {"enabled": True, "envconfig": {"BACKUP_FILESYSTEM_PATH": "/var/lib/weaviate/backups"}}}}, "must not be inside the data volume")
        must_fail("S3 without a bucket", chart, {"backups": {"s3": {"enabled": True, "envconfig": {"BACKUP_S3_BUCKET": ""}}}}, "needs backups.s3.envconfig.BACKUP_S3_BUCKET")

    keys = check_values_documented(CHART / "values.yaml")
    print(f"  values.yaml: {keys} keys, each with a comment: {'ok' if not any(p.startswith('[values.yaml]') for p in problems) else 'problems'}")

    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("chart check passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a render that lacks what the checks read: report what was found
        import traceback

        traceback.print_exc()
        for p in problems:
            print(f"  {p}")
        sys.exit(1)
