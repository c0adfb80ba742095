"""One pinned version of the Dapr runtime, read by everything else."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def _versions() -> dict[str, str]:
    out = {}
    for line in (ROOT / "scripts" / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_go_module_requires_the_pinned_dapr_release() -> None:
    v = _versions()
    gomod = (ROOT / "dapr" / "runtime" / "go.mod").read_text()
    assert re.search(rf"^\s*github\.com/dapr/dapr v{re.escape(v['DAPR_RUNTIME_VERSION'])}$",
                     gomod, re.M)
    contrib = re.escape(v["DAPR_COMPONENTS_CONTRIB_VERSION"])
    assert re.search(rf"^\s*github\.com/dapr/components-contrib v{contrib}$", gomod, re.M)


def test_python_sdk_is_on_the_runtime_minor() -> None:
    v = _versions()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    minor = ".".join(v["DAPR_RUNTIME_VERSION"].split(".")[:2])
    for pkg in ("dapr", "dapr-ext-workflow"):
        pin = next(d for d in deps if d.startswith(f"{pkg}=="))
        assert pin == f"{pkg}=={v['DAPR_PYTHON_SDK_VERSION']}"
        assert pin.split("==")[1].startswith(minor + "."), pin


def test_go_module_repeats_daprs_replace_directives() -> None:
    gomod = (ROOT / "dapr" / "runtime" / "go.mod").read_text()
    for module in ("dubbo.apache.org/dubbo-go/v3", "gopkg.in/couchbaselabs/gocbconnstr.v1",
                   "github.com/chenzhuoyu/iasm", "github.com/chzyer/logex",
                   "github.com/gobwas/pool", "github.com/toolkits/concurrent"):
        assert f"\t{module} =>" in gomod, module


def test_every_component_type_is_registered_in_the_runtime() -> None:
    import yaml

    registered = (ROOT / "dapr" / "runtime" / "components" / "components.go").read_text()
    for path in (ROOT / "components").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] != "Component":
            continue
        _, _, name = doc["spec"]["type"].partition(".")
        assert f'"{name}")' in registered, f"{path.name}: {doc['spec']['type']} is not registered"
