"""Kubernetes: the plain manifests of k8s/ and the Helm chart, validated offline against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail) and, for the
Dapr resources, against their expected kinds and fields; `helm lint` with both value sets."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import (
    CHART,
    KUBE_VERSION,
    PRODUCTION_VALUES,
    ROOT,
    by_kind,
    database_apps,
    helm_template,
    k8s_files,
    load_all,
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


# ---------------------------------------------------------------------------------------------
# plain manifests
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: str(p.relative_to(ROOT / "k8s")))
def test_plain_manifest_is_valid(path: Path) -> None:
    docs = load_all(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        validate_doc(doc)
        if doc["kind"] != "Namespace" and not doc["kind"].startswith("Cluster"):
            assert doc["metadata"].get("namespace") == "ecommerce", (path, doc["metadata"])


def test_plain_manifests_deploy_every_service(plain_docs: list[dict[str, Any]]) -> None:
    check_app_deployments(plain_docs)
    for kind in ("Service", "ServiceAccount", "Role", "RoleBinding"):
        names = set(by_kind(plain_docs, kind))
        for app in service_apps():
            assert (f"{app}-secrets" if kind.startswith("Role") else app) in names, (kind, app)
    for sts in by_kind(plain_docs, "StatefulSet").values():
        check_workload(sts)
    check_workload(by_kind(plain_docs, "Deployment")["mailpit"])


def test_each_service_has_its_own_file() -> None:
    for app in service_apps():
        kinds = {d["kind"] for d in load_all(ROOT / "k8s" / "services" / f"{app}.yaml")}
        assert kinds == {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding"}, app


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((ROOT / "k8s" / "kustomization.yaml").read_text())
    listed = {ROOT / "k8s" / r for r in kust["resources"]}
    assert listed == set(k8s_files())


def test_validator_rejects_a_broken_manifest() -> None:
    """The checks above can fail: an unknown field and a wrong type are caught."""
    dep = next(d for d in load_all(ROOT / "k8s" / "services" / "users.yaml")
               if d["kind"] == "Deployment")
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(bad)
    bad = copy.deepcopy(dep)
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(bad)
    comp = load_all(ROOT / "k8s" / "dapr" / "components" / "pubsub.yaml")[0]
    bad = copy.deepcopy(comp)
    del bad["spec"]["version"]
    with pytest.raises(AssertionError):
        validate_dapr(bad)


# ---------------------------------------------------------------------------------------------
# Helm chart
# ---------------------------------------------------------------------------------------------
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
    check_app_deployments(rendered_default)
    kinds = {d["kind"] for d in rendered_default}
    # Bundled PostgreSQL and Redis, generated secrets, the mail sink; no ingress by default.
    assert {"StatefulSet", "Secret", "Component", "Configuration", "Resiliency"} <= kinds
    assert set(by_kind(rendered_default, "StatefulSet")) == {"postgres", "redis"}
    assert "mailpit" in by_kind(rendered_default, "Deployment")
    assert "Ingress" not in kinds
    for sts in by_kind(rendered_default, "StatefulSet").values():
        check_workload(sts)


def test_helm_production_render_is_valid(rendered_production: list[dict[str, Any]]) -> None:
    for doc in rendered_production:
        validate_doc(doc)
    check_app_deployments(rendered_production)
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
    import base64

    secrets = {n: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
               for n, s in by_kind(rendered_default, "Secret").items()}
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



def test_create_secrets_makes_every_secret_the_manifests_read(tmp_path: Path) -> None:
    """Run k8s/create-secrets.sh on a generated .env with a kubectl that writes down the
    Secrets it is asked to create (there is no cluster here): every Secret a workload, a
    component or an app's Configuration reads exists, with the key it is read by."""
    env_file = tmp_path / ".env"
    env_file.write_text(subprocess.run(["sh", str(ROOT / "docker" / "gen-env.sh")], check=True,
                                       capture_output=True, text=True, timeout=30).stdout)
    bin_dir, log = tmp_path / "bin", tmp_path / "kubectl.log"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    # `kubectl -n NS create secret generic NAME --from-literal=K=V ... --dry-run=client -o yaml`
    # is written down as one line "NAME K1 K2 ..."; `kubectl -n NS apply -f -` reads stdin.
    kubectl.write_text('#!/usr/bin/env bash\n'
                       'if [ "$3" = create ]; then\n'
                       '  name=$6; shift 6; keys=()\n'
                       '  for a in "$@"; do case $a in --from-literal=*) k=${a#--from-literal=};'
                       ' keys+=("${k%%=*}");; esac; done\n'
                       f'  echo "$name ${{keys[*]}}" >> {log}\n'
                       'else cat > /dev/null; fi\n')
    kubectl.chmod(0o755)
    subprocess.run(["bash", str(ROOT / "k8s" / "create-secrets.sh"), str(env_file), "shop"],
                   check=True, timeout=60, capture_output=True,
                   env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    created = {line.split()[0]: set(line.split()[1:]) for line in log.read_text().splitlines()}

    read: dict[str, set[str]] = {}  # secret name -> keys read from it
    manifests = "\n".join(p.read_text() for p in k8s_files())
    for name, key in re.findall(r"secretKeyRef: \{name: ([a-z0-9-]+), key: ([a-z0-9-]+)\}",
                                manifests):
        read.setdefault(name, set()).add(key)
    for name in re.findall(r"secretRef: \{name: ([a-z0-9-]+)\}", manifests):
        read.setdefault(name, set())
    # Dapr's Kubernetes secret store answers `<name>` from the Secret `<name>`, key `<name>`.
    dapr_names: set[str] = set()
    for cfg in (ROOT / "k8s" / "dapr" / "config").glob("*.yaml"):
        dapr_names |= set(yaml.safe_load(cfg.read_text())["spec"]["secrets"]["scopes"][0]
                          ["allowedSecrets"])
    for comp in (ROOT / "k8s" / "dapr" / "components").glob("*.yaml"):
        dapr_names |= set(re.findall(r"secretKeyRef: \{name: ([a-z0-9-]+)", comp.read_text()))
    for name in dapr_names:
        read.setdefault(name, set()).add(name)
    assert read, "no secret references found: the patterns above no longer match"
    missing = {name: keys - created.get(name, set()) for name, keys in read.items()
               if name not in created or not keys <= created[name]}
    assert not missing, missing
