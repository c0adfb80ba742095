"""docker-compose.yml: valid against the Compose Specification's JSON schema (the copy that
check-jsonschema vendors from SchemaStore/compose-spec), and structurally what the platform
needs: a sidecar per app in the app's network namespace, health checks and ordered start-up,
and every secret a required variable."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import ROOT, database_apps, service_apps

DAPR_INFRA = ("placement", "scheduler")


def compose_schema() -> dict[str, Any]:
    text = (resources.files("check_jsonschema.builtin_schemas.vendor")
            / "compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def app_services(compose: dict[str, Any]) -> dict[str, str]:
    """compose service name -> app id, for every app container (gateway-2 included)."""
    return {name: svc["environment"]["APP_ID"] for name, svc in compose["services"].items()
            if "APP_ID" in (svc.get("environment") or {})}


def daprd_flags(args: list[str]) -> dict[str, str]:
    """`--flag value` pairs and bare `--flag`s (value "true") of a daprd command line."""
    flags: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) else "--"
            flags[arg] = "true" if nxt.startswith("--") else nxt
    return flags


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    jsonschema.validate(compose, compose_schema())


def test_compose_schema_check_can_fail(compose: dict[str, Any]) -> None:
    bad = json.loads(json.dumps(compose))
    bad["services"]["users"]["depends_on"]["postgres"]["condition"] = "service_ready"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, compose_schema())


def test_every_app_has_a_sidecar_in_its_network_namespace(compose: dict[str, Any]) -> None:
    services = compose["services"]
    apps = app_services(compose)
    assert set(apps.values()) == set(service_apps())
    assert apps["gateway-2"] == "gateway"
    for name, app_id in apps.items():
        sidecar = services[f"{name}-dapr"]
        assert sidecar["network_mode"] == f"service:{name}"
        cmd = sidecar["command"]
        flags = daprd_flags(cmd[1:])
        assert cmd[0] == "/daprd"
        assert flags["--app-id"] == app_id
        assert flags["--config"] == f"/dapr/config/{app_id}.yaml"
        assert flags["--dapr-http-port"] == services[name]["environment"]["DAPR_HTTP_PORT"]
        assert flags["--placement-host-address"] == "placement:50005"
        assert flags["--scheduler-host-address"] == "scheduler:50006"
        assert "./components:/dapr/components:ro" in sidecar["volumes"]
        assert "./dapr/config:/dapr/config:ro" in sidecar["volumes"]
        assert sidecar["working_dir"] == "/dapr"
        assert sidecar["depends_on"][name]["condition"] == "service_started"
        assert sidecar["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["APP_HOST"] == "0.0.0.0"


def test_sidecars_read_the_local_configurations_as_they_are(compose: dict[str, Any]) -> None:
    """No compose copy of a Configuration: the sidecars mount dapr/config, the folder of the
    run file's configFilePaths, and the one writable thing those files need, the folder of
    their SQLite name resolution database, is the `dapr-nr` volume every sidecar shares
    (read-write: the rest of .local/ is the read-only secret store). The `secrets` service
    creates its mount point and hands it to daprd's user."""
    import importlib.util

    run = yaml.safe_load((ROOT / "dapr" / "dapr.yaml").read_text())
    assert {a["configFilePath"].rsplit("/", 1)[0] for a in run["apps"]} == {"dapr/config"}
    assert not (ROOT / "docker" / "dapr").exists(), "a compose copy of dapr/config is back"
    folders = set()
    for app in service_apps():
        spec = yaml.safe_load((ROOT / "dapr" / "config" / f"{app}.yaml").read_text())["spec"]
        nr = spec["nameResolution"]
        assert nr["component"] == "sqlite"
        folders.add(nr["configuration"]["connectionString"].rsplit("/", 1)[0])
    (folder,) = folders  # one database for every app, or they would not find each other
    assert folder.startswith(".local/") and folder != ".local"
    mount = f"dapr-nr:/dapr/{folder}"
    services = compose["services"]
    sidecars = {n: s for n, s in services.items() if n.endswith("-dapr")}
    assert len(sidecars) == len(app_services(compose))
    for name, sidecar in sidecars.items():
        assert mount in sidecar["volumes"], name  # no `:ro`: daprd writes its registration
        assert "dapr-secrets:/dapr/.local:ro" in sidecar["volumes"], name
    assert mount in services["secrets"]["volumes"] and "dapr-nr" in compose["volumes"]
    spec = importlib.util.spec_from_file_location("compose_secrets",
                                                  ROOT / "docker" / "compose_secrets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert folder.removeprefix(".local/") in module.WRITABLE


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # daprd, placement and scheduler images are distroless (no shell to probe with); an app's
    # health check (/health/ready) covers its sidecar, and they start after what they need.
    unprobed = {n for n in services if n.endswith("-dapr")} | set(DAPR_INFRA) | {"secrets"}
    for name, svc in services.items():
        if name not in unprobed:
            assert svc["healthcheck"]["test"], name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            if name == f"{dep}-dapr":
                continue  # a sidecar starts with its app, whose readiness waits for it
            if "healthcheck" in services[dep] and not services[dep]["healthcheck"].get("disable"):
                assert cond["condition"] == "service_healthy", (name, dep)
    for name, app_id in app_services(compose).items():
        deps = services[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        if app_id in database_apps():
            assert deps["postgres"]["condition"] == "service_healthy"
        else:
            assert "postgres" not in deps, name
    nginx = services["nginx"]
    assert set(nginx["depends_on"]) == {"gateway", "gateway-2"}
    assert all(d["condition"] == "service_healthy" for d in nginx["depends_on"].values())


def test_backing_servers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    redis = services["redis"]
    assert "--appendonly yes" in " ".join(redis["command"])
    pg = services["postgres"]
    assert ("./k8s/helm/ecommerce/files/init-databases.sh:/docker-entrypoint-initdb.d/"
            "10-init-databases.sh:ro") in pg["volumes"]
    for app in service_apps():
        if app in database_apps():
            assert f"{app.upper()}_DB_PASSWORD" in pg["environment"]
        else:
            assert f"{app.upper()}_DB_PASSWORD" not in pg["environment"]
    assert services["secrets"]["environment"]["smtp-port"] == "1025"
    assert services["secrets"]["environment"]["smtp-host"] in services
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    assert re.search(r"server gateway:8080\b", conf) and re.search(r"server gateway-2:8080\b", conf)


def test_secrets_are_required_variables(compose: dict[str, Any]) -> None:
    """Every secret is `${VAR:?...}`: compose refuses to start without it; no defaults."""
    text = json.dumps(compose)
    refs = re.findall(r"\$\{([A-Z_0-9]+)(:\?|:-|-|\?)?", text)
    secret_like = re.compile(r"PASSWORD|TOKEN|KEY")
    for name, op in refs:
        if secret_like.search(name):
            assert op == ":?", f"${{{name}}} must be required (:?), not {op or 'optional'}"
    assert {n for n, op in refs if op == ":-"} <= {"HTTP_PORT", "MAILPIT_UI_PORT"}
    example = (ROOT / ".env.example").read_text()
    for name, op in refs:
        if op == ":?":
            assert re.search(rf"^{name}=", example, re.M), f"{name} missing from .env.example"
