"""Shared loaders of the deployment files. Nothing here needs the running stack, a Docker
engine or a cluster: every check runs offline against real schemas and real tools."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "helm" / "ecommerce"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
HELM = ROOT / ".local" / "bin" / "helm"
KUBE_VERSION = "1.33.0"


def versions() -> dict[str, str]:
    """scripts/versions.env as a dict: the one place that pins runtime versions."""
    out = {}
    for line in (ROOT / "scripts" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def service_apps() -> dict[str, int]:
    """Every service under services/ (except common) and its default port, read from its
    `__main__.py` (`serve("<app>", <port>, create_app)`)."""
    apps = {}
    for main in sorted((ROOT / "services").glob("*/__main__.py")):
        found = re.search(r"serve\(\s*\"([a-z_]+)\",\s*(\d+)", main.read_text())
        assert found, f"{main} does not call serve(app_id, port, ...)"
        assert found.group(1) == main.parent.name, f"{main}: app id is not the folder name"
        apps[found.group(1)] = int(found.group(2))
    assert len(apps) >= 7
    return apps


def database_apps() -> list[str]:
    """The services with a PostgreSQL database of their own: those whose Dapr Configuration
    lets them read `<app>-db-dsn` (gateway and basket have none; basket keeps its data in the
    Dapr state store)."""
    out = []
    for app in service_apps():
        config = yaml.safe_load((ROOT / "dapr" / "config" / f"{app}.yaml").read_text())
        if f"{app}-db-dsn" in config["spec"]["secrets"]["scopes"][0]["allowedSecrets"]:
            out.append(app)
    assert "gateway" not in out and len(out) >= 6
    return out


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned Helm, built from the Go module proxy once (scripts/install-helm.sh)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install-helm.sh")], check=True, timeout=900)
    out = subprocess.run([str(HELM), "version", "--template", "{{.Version}}"], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == f"v{versions()['HELM_VERSION']}"
    return HELM


def helm_template(helm: Path, *values: Path, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = [str(helm), "template", "shop", str(CHART), "--namespace", "ecommerce",
            "--kube-version", KUBE_VERSION]
    for v in values:
        args += ["-f", str(v)]
    args += extra
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="session")
def rendered_default(helm: Path) -> list[dict[str, Any]]:
    return helm_template(helm)


@pytest.fixture(scope="session")
def rendered_production(helm: Path) -> list[dict[str, Any]]:
    return helm_template(helm, PRODUCTION_VALUES)


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def compose_text() -> str:
    """docker-compose.yml without its comment lines (which mention ${VAR:?} as prose)."""
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (${VAR}, ${VAR:?err}, ${VAR:-default}, $$)."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op == ":?" and not value:
            raise KeyError(f"{name} is required: {arg}")
        if op == ":-" and not value:
            return arg or ""
        return value
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:\?|:-)([^}]*))?\}", sub, text)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}

