"""Drift: the deployments cannot disagree with the code or with each other.

Every service under services/ (its folder name is its app id, its `serve(...)` call its
port) appears with that id and port in dapr/dapr.yaml, docker-compose.yml, tye.yaml and the
Helm chart (values and render). The Dapr resources are written once, in components/ and
dapr/config/: the local stack, compose and tye read those files, and the chart, the one
Kubernetes source, links them (a test below fails on a copy) and renders the same specs, the
Configurations without their name resolution. One daprd everywhere, the project's patched
build (scripts/versions.env DAPRD_IMAGE), and the PostgreSQL/Redis majors too. Nothing is
generated from these sources, so there is no staleness to test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, ROOT, by_kind, load_all, service_apps, versions

APPS = service_apps()


def strip_nr(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "nameResolution"}


def test_run_file_matches_services() -> None:
    run = yaml.safe_load((ROOT / "dapr" / "dapr.yaml").read_text())
    assert {a["appID"]: int(a["appPort"]) for a in run["apps"]} == APPS
    for a in run["apps"]:
        assert a["command"][-1] == f"services.{a['appID']}"
        assert a["configFilePath"] == f"dapr/config/{a['appID']}.yaml"


def test_compose_matches_services(compose: dict[str, Any]) -> None:
    seen: dict[str, int] = {}
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        if "APP_ID" not in env:
            continue
        app, port = env["APP_ID"], int(env["APP_PORT"])
        assert name == app or name.startswith(f"{app}-"), name
        seen[app] = port
        cmd = compose["services"][f"{name}-dapr"]["command"]
        assert cmd[cmd.index("--app-port") + 1] == str(port)
        assert cmd[cmd.index("--app-id") + 1] == app
    assert seen == APPS


def test_tye_matches_services() -> None:
    tye = yaml.safe_load((ROOT / "tye.yaml").read_text())
    seen = {}
    for svc in tye["services"]:
        env = {e["name"]: e["value"] for e in svc["env"]}
        assert env["APP_ID"] == svc["name"] and svc["args"] == f"-m services.{svc['name']}"
        assert int(env["APP_PORT"]) == svc["bindings"][0]["port"]
        seen[svc["name"]] = svc["bindings"][0]["port"]
    assert seen == APPS
    (dapr,) = [e for e in tye["extensions"] if e["name"] == "dapr"]
    components = ROOT / dapr["components-path"]
    assert components.resolve() == (ROOT / "components").resolve()
    for app, conf in dapr["services"].items():
        # Tye resolves `config` as <components-path>/<config>.yaml.
        assert (components / f"{conf['config']}.yaml").resolve() == (
            ROOT / "dapr" / "config" / f"{app}.yaml").resolve()
    assert set(dapr["services"]) == set(APPS)


def test_helm_values_match_services() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {a: s["port"] for a, s in values["services"].items()} == APPS


def test_helm_render_matches_services(rendered_default: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered_default, "Deployment")
    services = by_kind(rendered_default, "Service")
    for app, port in APPS.items():
        ann = deployments[app]["spec"]["template"]["metadata"]["annotations"]
        assert (ann["dapr.io/app-id"], ann["dapr.io/app-port"]) == (app, str(port))
        assert services[app]["spec"]["ports"][0]["port"] == port


# ---------------------------------------------------------------------------------------------
# Dapr resources
# ---------------------------------------------------------------------------------------------
def local_resources() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for p in sorted((ROOT / "components").glob("*.yaml"))
            for d in load_all(p)}


def same_resource(local: dict[str, Any], other: dict[str, Any]) -> None:
    name = local["metadata"]["name"]
    assert other["kind"] == local["kind"], name
    if name == "secretstore":
        assert local["spec"]["type"] == "secretstores.local.file"
        assert other["spec"]["type"] == "secretstores.kubernetes"
        return
    assert other["spec"] == local["spec"], f"{name}: spec differs from components/"
    assert other.get("scopes") == local.get("scopes"), name
    assert other.get("auth") == local.get("auth"), name


def test_helm_ships_the_same_components(rendered_default: list[dict[str, Any]]) -> None:
    local = local_resources()
    rendered = {d["metadata"]["name"]: d for d in rendered_default
                if d["kind"] in ("Component", "Resiliency")}
    assert set(rendered) == set(local)
    for name, doc in local.items():
        same_resource(doc, rendered[name])

SOURCES = {"components": ROOT / "components", "config": ROOT / "dapr" / "config"}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_the_chart_reads_the_one_source(kind: str) -> None:
    """No hand copy in the chart: each of its Dapr files is a link to the source file (the
    secret store excepted, which is secretstores.kubernetes on a cluster)."""
    source = SOURCES[kind]
    files = {p.name: p for p in (CHART / "files" / kind).glob("*.yaml")}
    assert set(files) == {p.name for p in source.glob("*.yaml")}
    for name, path in files.items():
        if kind == "components" and name == "secretstore.yaml":
            assert not path.is_symlink()
            continue
        assert path.is_symlink(), f"{path.relative_to(ROOT)} is a copy, not a link"
        assert path.resolve() == (source / name).resolve(), name
        # relative, so the link holds in any checkout
        assert not path.readlink().is_absolute()


def test_each_dapr_resource_is_written_once() -> None:
    """No copy of a Component, Configuration or Resiliency anywhere in the repository: the
    only Dapr resources in files are those of components/ and dapr/config/ (which the chart's
    files/ link to) and the chart's Kubernetes secret store, which has no local counterpart."""
    import subprocess

    files = subprocess.run(["git", "ls-files", "-z", "*.yaml", "*.yml"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    allowed = {ROOT / "components", ROOT / "dapr" / "config"}
    found = []
    for name in filter(None, files):
        path = ROOT / name
        if path.is_symlink() or not path.exists():
            continue
        text = path.read_text(errors="replace")
        if "dapr.io/v1alpha1" not in text or path.parent in allowed:
            continue
        kinds = {d.get("kind") for d in yaml.safe_load_all(text) if isinstance(d, dict)}
        if kinds & {"Component", "Configuration", "Resiliency"}:
            found.append(name)
    assert found == ["k8s/helm/ecommerce/files/components/secretstore.yaml"], found


@pytest.mark.parametrize("app", sorted(APPS))
def test_dapr_configurations_agree(app: str, rendered_default: list[dict[str, Any]]) -> None:
    local = yaml.safe_load((ROOT / "dapr" / "config" / f"{app}.yaml").read_text())
    # The chart renders the source (a link) without its name resolution (Kubernetes DNS).
    doc = by_kind(rendered_default, "Configuration")[app]
    assert "nameResolution" in local["spec"]
    assert "nameResolution" not in doc["spec"], "name resolution is the platform's"
    assert doc["spec"] == strip_nr(local["spec"])
    # The service account may read exactly the secrets the Configuration allows.
    role = by_kind(rendered_default, "Role")[f"{app}-secrets"]
    allowed = local["spec"]["secrets"]["scopes"][0]["allowedSecrets"]
    assert sorted(role["rules"][0]["resourceNames"]) == sorted(allowed)


# ---------------------------------------------------------------------------------------------
# versions
# ---------------------------------------------------------------------------------------------
def all_images(docs: list[dict[str, Any]]) -> list[str]:
    images = []
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        if pod:
            images += [c["image"] for c in pod["containers"]]
            ann = d["spec"]["template"]["metadata"].get("annotations", {})
            if "dapr.io/sidecar-image" in ann:
                images.append(ann["dapr.io/sidecar-image"])
    return images


def test_one_patched_daprd_everywhere(compose: dict[str, Any],
                                      rendered_default: list[dict[str, Any]],
                                      rendered_production: list[dict[str, Any]]) -> None:
    """Every flavour runs the project's daprd image (docker/daprd.Dockerfile) at the one tag
    of scripts/versions.env: compose for daprd, placement and scheduler, both chart renderings
    for the injected sidecar."""
    v = versions()
    want = v["DAPR_RUNTIME_VERSION"]
    go_mod = (ROOT / "dapr" / "runtime" / "go.mod").read_text()
    assert re.search(rf"^\s*github\.com/dapr/dapr v{re.escape(want)}$", go_mod, re.M)
    image = f"{v['DAPRD_IMAGE']}:{v['DAPRD_IMAGE_TAG']}"
    services = compose["services"]
    runtime = {name: s["image"] for name, s in services.items()
               if s.get("command") and s["command"][0] in ("/daprd", "/placement", "/scheduler")}
    assert {s["command"][0] for n, s in services.items() if n in runtime} == {
        "/daprd", "/placement", "/scheduler"}
    assert set(runtime.values()) == {image}, runtime
    assert all(services[n]["build"]["dockerfile"] == "docker/daprd.Dockerfile" for n in runtime)
    for where, docs in {"helm": rendered_default,
                        "helm (production values)": rendered_production}.items():
        pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {})
                for d in docs if d["kind"] == "Deployment"}
        sidecars = {name: ann.get("dapr.io/sidecar-image") for name, ann in pods.items()
                    if "dapr.io/app-id" in ann}
        assert sidecars and set(sidecars) <= set(APPS), where  # all: test_*_match_services
        assert set(sidecars.values()) == {image}, (where, sidecars)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["dapr"]["sidecarImage"] == image
    # Tye runs daprd through the Dapr CLI: its runtime path must be the local build's.
    assert "DAPR_RUNTIME_PATH=$PWD/.local/dapr tye run" in (ROOT / "tye.yaml").read_text()
    assert 'OUT="$ROOT/.local/dapr/.dapr/bin"' in (
        ROOT / "scripts" / "build-dapr.sh").read_text()


STOCK_RUNTIME = re.compile(r"daprio/(daprd|placement|scheduler)\b")


def flavour_files() -> list[Path]:
    trees = [ROOT / "k8s", ROOT / "docker", ROOT / ".github" / "workflows"]
    return sorted([ROOT / "docker-compose.yml", ROOT / "tye.yaml",
                   *(p for tree in trees for p in tree.rglob("*") if p.is_file())])


def test_no_flavour_names_a_stock_dapr_image() -> None:
    """The released daprio/* images lack dapr/runtime/patches (a crash can strand workflows):
    no deployment file, template, value or workflow may name one, not even as an override."""
    files = flavour_files()
    assert ROOT / "k8s" / "helm" / "ecommerce" / "values.yaml" in files
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files
             for m in STOCK_RUNTIME.finditer(p.read_text(errors="replace"))]
    assert not found, found


def test_stock_image_check_can_fail() -> None:
    assert STOCK_RUNTIME.search("        dapr.io/sidecar-image: daprio/daprd:1.18.2")
    assert STOCK_RUNTIME.search("    image: daprio/placement:1.18.2")
    assert not STOCK_RUNTIME.search("image: ghcr.io/ecommerce-dapr/ecommerce-daprd:1.18.2")


def test_daprd_image_tag_is_version_and_patch_level() -> None:
    v = versions()
    tag = re.fullmatch(rf"{re.escape(v['DAPR_RUNTIME_VERSION'])}-ecommerce\.(\d+)",
                       v["DAPRD_IMAGE_TAG"])
    assert tag, "DAPRD_IMAGE_TAG is <DAPR_RUNTIME_VERSION>-ecommerce.<patch level>"
    patches = list((ROOT / "dapr" / "runtime" / "patches").glob("*.patch"))
    assert int(tag.group(1)) >= len(patches), "a new patch raises the patch level"


def test_postgres_and_redis_majors(compose: dict[str, Any],
                                   rendered_default: list[dict[str, Any]]) -> None:
    v = versions()
    images = ([s["image"] for s in compose["services"].values() if "image" in s]
              + all_images(rendered_default))
    pg = [i for i in images if i.startswith("postgres:")]
    redis = [i for i in images if i.startswith("redis:")]
    assert len(pg) == 2 and len(redis) == 2
    assert all(i.split(":")[1].split(".")[0].split("-")[0] == v["POSTGRES_MAJOR"] for i in pg), pg
    assert all(i.split(":")[1].split(".")[0] == v["REDIS_MAJOR"] for i in redis), redis


def test_helm_version_pinned_once() -> None:
    want = versions()["HELM_VERSION"]
    assert re.fullmatch(r"3\.\d+\.\d+", want)
    script = (ROOT / "scripts" / "install-helm.sh").read_text()
    assert "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" in script
