"""Kubernetes: the Helm chart, the one Kubernetes source (plain YAML is `helm template` of it),
rendered with the default and the production values and validated offline against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail) and, for the
Dapr resources, against their expected kinds and fields; `helm lint` with both value sets."""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.conftest import (
    CHART,
    KUBE_VERSION,
    PRODUCTION_VALUES,
    by_kind,
    database_apps,
    helm_template,
    service_apps,
)

# The oldest and the newest Kubernetes the manifests must be valid for.
K8S_VERSIONS = ("1.30.0", KUBE_VERSION)

DAPR_KINDS: dict[str, dict[str, Any]] = {
    # kind -> required spec fields (and their types); the CRDs' own required fields.
    "Component": {"type": str, "version": str, "metadata": list},
    "Configuration": {},
    "Resiliency": {"policies": dict, "targets": dict},
}
COMPONENT_FIELDS = {"apiVersion", "kind", "metadata", "spec", "auth", "scopes"}


def validate_k8s(doc: dict[str, Any]) -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def validate_dapr(doc: dict[str, Any]) -> None:
    """The Dapr CRDs (Component, Configuration, Resiliency): kind, apiVersion and fields."""
    kind = doc["kind"]
    assert kind in DAPR_KINDS, f"unexpected Dapr kind {kind}"
    assert doc["apiVersion"] == "dapr.io/v1alpha1", doc["apiVersion"]
    assert doc["metadata"]["name"], doc
    spec = doc["spec"]
    for field, typ in DAPR_KINDS[kind].items():
        assert isinstance(spec.get(field), typ), f"{kind} {doc['metadata']['name']}: spec.{field}"
    if kind == "Component":
        assert set(doc) <= COMPONENT_FIELDS, set(doc) - COMPONENT_FIELDS
        assert spec["version"] == "v1"
        for item in spec["metadata"]:
            assert set(item) <= {"name", "value", "secretKeyRef"} and item.get("name"), item
            assert ("value" in item) != ("secretKeyRef" in item), item
            if "secretKeyRef" in item:
                assert set(item["secretKeyRef"]) == {"name", "key"}, item
        if "secretKeyRef" in str(spec["metadata"]):
            assert doc.get("auth", {}).get("secretStore") == "secretstore", doc["metadata"]
        assert isinstance(doc.get("scopes", []), list)
    if kind == "Configuration":
        assert set(spec) <= {"tracing", "metrics", "secrets", "accessControl", "nameResolution",
                             "features", "mtls", "api", "appHttpPipeline", "httpPipeline",
                             "logging", "components", "wasm", "workflow"}, set(spec)
        for scope in spec.get("secrets", {}).get("scopes", []):
            assert scope["storeName"] == "secretstore"
            assert scope["defaultAccess"] == "deny"
            assert all(isinstance(s, str) for s in scope["allowedSecrets"])
    if kind == "Resiliency":
        policies = spec["policies"]
        for target in spec["targets"].get("apps", {}).values():
            for key, policy_kind in (("timeout", "timeouts"), ("retry", "retries"),
                                     ("circuitBreaker", "circuitBreakers")):
                if key in target:
                    assert target[key] in policies.get(policy_kind, {}), target


def validate_doc(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("dapr.io/"):
        validate_dapr(doc)
    else:
        validate_k8s(doc)


def check_workload(doc: dict[str, Any]) -> None:
    """Probes, resources and a restricted securityContext on every container."""
    name = doc["metadata"]["name"]
    pod = doc["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True, name
    assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert c["resources"]["requests"] and c["resources"]["limits"], name
        assert c.get("readinessProbe") and c.get("livenessProbe"), name


def check_app_deployments(docs: list[dict[str, Any]]) -> None:
    deployments = by_kind(docs, "Deployment")
    for app, port in service_apps().items():
        dep = deployments[app]
        check_workload(dep)
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        assert ann["dapr.io/enabled"] == "true"
        assert ann["dapr.io/app-id"] == app
        assert ann["dapr.io/app-port"] == str(port)
        assert ann["dapr.io/config"] == app
        assert ann["dapr.io/enable-metrics"] == "true"
        assert ann["dapr.io/api-token-secret"] and ann["dapr.io/app-token-secret"]
        pod = dep["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == app
        (c,) = pod["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        # The gateway's /health aggregates every service: liveness must not restart it
        # when a backend is down, so it has its own /health/live.
        assert c["livenessProbe"]["httpGet"]["path"] == (
            "/health/live" if app == "gateway" else "/health")
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["APP_ID"] == app and env["APP_PORT"] == str(port)
        assert env["APP_HOST"] == "0.0.0.0" and env["DAPR_HTTP_PORT"] == "3500"
        assert c["ports"][0]["containerPort"] == port
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


def check_app_resources(docs: list[dict[str, Any]]) -> None:
    """Each app's Deployment (above), Service, ServiceAccount, and the Role and RoleBinding
    that let its daprd read its secrets; probes, resources and a restricted securityContext
    on every workload, the bundled servers' too."""
    check_app_deployments(docs)
    for kind in ("Service", "ServiceAccount", "Role", "RoleBinding"):
        names = set(by_kind(docs, kind))
        for app in service_apps():
            assert (f"{app}-secrets" if kind.startswith("Role") else app) in names, (kind, app)
    for kind in ("StatefulSet", "Deployment"):
        for workload in by_kind(docs, kind).values():
            check_workload(workload)


def secrets_read(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secret name -> the keys read from it: by the containers (env), by the sidecars (the
    Dapr token annotations, key `token`) and by Dapr, whose Kubernetes secret store answers
    `<name>` from the Secret `<name>`, key `<name>` (what a Configuration allows and a
    component references)."""
    read: dict[str, set[str]] = {}
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        if pod:
            for c in pod["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        read.setdefault(ref["name"], set()).add(ref["key"])
                for ef in c.get("envFrom", []):
                    if "secretRef" in ef:
                        read.setdefault(ef["secretRef"]["name"], set())
            ann = d["spec"]["template"]["metadata"].get("annotations", {})
            for a in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
                if a in ann:
                    read.setdefault(ann[a], set()).add("token")
        names: list[str] = []
        if d["kind"] == "Configuration":
            names = d["spec"]["secrets"]["scopes"][0]["allowedSecrets"]
        if d["kind"] == "Component":
            names = [m["secretKeyRef"]["name"] for m in d["spec"]["metadata"]
                     if "secretKeyRef" in m]
        for name in names:
            read.setdefault(name, set()).add(name)
    return read


def secrets_made(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {n: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
            for n, s in by_kind(docs, "Secret").items()}


def missing_secrets(docs: list[dict[str, Any]],
                    made: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    read = secrets_read(docs)
    assert {"dapr-api-token", "redis-password", "users-db-dsn"} <= set(read), (
        "secret references not found: secrets_read no longer matches the chart")
    return {name: keys - set(made.get(name, {})) for name, keys in read.items()
            if not keys <= set(made.get(name, {}))}


# ---------------------------------------------------------------------------------------------
# Helm chart
# ---------------------------------------------------------------------------------------------
def test_validator_rejects_a_broken_manifest(rendered_default: list[dict[str, Any]]) -> None:
    """The checks below can fail: an unknown field and a wrong type are caught."""
    dep = by_kind(rendered_default, "Deployment")["users"]
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(bad)
    bad = copy.deepcopy(dep)
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(bad)
    comp = by_kind(rendered_default, "Component")["pubsub"]
    bad = copy.deepcopy(comp)
    del bad["spec"]["version"]
    with pytest.raises(AssertionError):
        validate_dapr(bad)
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-token-secret"] = "nope"
    assert missing_secrets([*rendered_default, bad], secrets_made(rendered_default)) == {
        "nope": {"token"}}


@pytest.mark.parametrize("values", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_helm_lint(helm: Path, values: Path | None) -> None:
    args = [str(helm), "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", str(values)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 chart(s) failed" in r.stdout


def test_helm_default_render_is_valid(rendered_default: list[dict[str, Any]]) -> None:
    for doc in rendered_default:
        validate_doc(doc)
    check_app_resources(rendered_default)
    kinds = {d["kind"] for d in rendered_default}
    # Bundled PostgreSQL and Redis, generated secrets, the mail sink; no ingress by default.
    assert {"StatefulSet", "Secret", "Component", "Configuration", "Resiliency"} <= kinds
    assert set(by_kind(rendered_default, "StatefulSet")) == {"postgres", "redis"}
    assert "mailpit" in by_kind(rendered_default, "Deployment")
    assert "Ingress" not in kinds
    # The PostgreSQL init script is the one file compose mounts too.
    init = by_kind(rendered_default, "ConfigMap")["postgres-init"]["data"]["init-databases.sh"]
    assert init == (CHART / "files" / "init-databases.sh").read_text()
    # The gateway stays available through node drains.
    assert by_kind(rendered_default, "PodDisruptionBudget")["gateway"]["spec"]["minAvailable"]


def test_helm_production_render_is_valid(rendered_production: list[dict[str, Any]]) -> None:
    for doc in rendered_production:
        validate_doc(doc)
    check_app_resources(rendered_production)
    kinds = {d["kind"] for d in rendered_production}
    # External PostgreSQL/Redis/SMTP, Secrets managed outside Helm, TLS ingress.
    assert "StatefulSet" not in kinds and "Secret" not in kinds
    assert "mailpit" not in by_kind(rendered_production, "Deployment")
    ingress = by_kind(rendered_production, "Ingress")["gateway"]
    assert ingress["spec"]["tls"][0]["secretName"]
    deps = by_kind(rendered_production, "Deployment")
    assert deps["gateway"]["spec"]["replicas"] == 3
    assert deps["gateway"]["spec"]["template"]["spec"]["imagePullSecrets"]
    assert deps["users"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/shop/ecommerce-dapr:0.1.0")


def test_helm_secrets_are_consistent(rendered_default: list[dict[str, Any]]) -> None:
    """Each DSN carries the password the bundled PostgreSQL creates its role with, every
    secret an app may read exists, and the token secrets have the `token` key Dapr needs."""
    secrets = secrets_made(rendered_default)
    init = secrets["postgres-init"]
    for app in service_apps():
        if app not in database_apps():
            assert f"{app}-db-dsn" not in secrets, app
            continue
        dsn = secrets[f"{app}-db-dsn"][f"{app}-db-dsn"]
        password = init[f"{app.upper()}_DB_PASSWORD"]
        assert dsn == f"postgresql://{app}:{password}@postgres:5432/ecommerce_{app}"
    for cfg in by_kind(rendered_default, "Configuration").values():
        for name in cfg["spec"]["secrets"]["scopes"][0]["allowedSecrets"]:
            assert name in secrets[name], name
    assert set(secrets["dapr-api-token"]) == {"token"}
    # one APP_API_TOKEN per app, each different (one app's token does not open another)
    app_tokens = {app: secrets[f"app-api-token-{app}"]["token"] for app in service_apps()}
    assert len(set(app_tokens.values())) == len(app_tokens)
    assert "app-api-token" not in secrets
    # The generated signing key is what the users service accepts: an EC P-256 PEM.
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(secrets["jwt-private-key"]["jwt-private-key"].encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_helm_requires_external_hosts(helm: Path, tmp_path: Path) -> None:
    """bundled: false without an address is an error at render time, not a broken pod."""
    values = tmp_path / "values.yaml"
    values.write_text("postgresql: {bundled: false}\n")
    r = subprocess.run([str(helm), "template", "shop", str(CHART), "--kube-version",
                        KUBE_VERSION, "-f", str(values)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "postgresql.external.host is required" in r.stderr


def test_helm_passes_a_services_env(helm: Path, tmp_path: Path) -> None:
    """services.<app>.env reaches that app's container, and only that one (the gateway's
    FORWARDED_ALLOW_IPS behind an ingress is the reason it exists)."""
    values = tmp_path / "values.yaml"
    values.write_text("services:\n  gateway:\n    env: {FORWARDED_ALLOW_IPS: 10.42.0.0/16}\n")
    docs = helm_template(helm, values)
    envs = {d["metadata"]["name"]: {e["name"]: e.get("value")
                                    for e in d["spec"]["template"]["spec"]["containers"][0]
                                    .get("env", [])}
            for d in docs if d["kind"] == "Deployment"}
    assert envs["gateway"]["FORWARDED_ALLOW_IPS"] == "10.42.0.0/16"
    assert all("FORWARDED_ALLOW_IPS" not in env for name, env in envs.items() if name != "gateway")



def test_the_default_install_makes_every_secret_it_reads(
        rendered_default: list[dict[str, Any]]) -> None:
    """Every Secret a container, a sidecar annotation, a Configuration or a component reads
    is in the release, with the key it is read by."""
    assert not missing_secrets(rendered_default, secrets_made(rendered_default))


def test_secrets_made_beforehand_come_from_the_same_template(
        helm: Path, rendered_production: list[dict[str, Any]]) -> None:
    """Secrets kept outside the release (secrets.create false, as in ci/production-values.yaml;
    the plain-YAML recipe of the README) are rendered from the chart's own template:
    `--show-only templates/secrets.yaml` with secrets.create renders Secrets and nothing else,
    and they are every Secret the production render reads, the DSNs on the managed server."""
    docs = helm_template(helm, PRODUCTION_VALUES, extra=(
        "--set", "secrets.create=true", "--show-only", "templates/secrets.yaml"))
    assert {d["kind"] for d in docs} == {"Secret"}
    made = secrets_made(docs)
    assert not missing_secrets(rendered_production, made)
    assert made["users-db-dsn"]["users-db-dsn"].endswith(
        "@shop-db.example.internal:5432/ecommerce_users?sslmode=verify-full")
    assert made["redis-host"]["redis-host"] == "shop-redis.example.internal:6379"
