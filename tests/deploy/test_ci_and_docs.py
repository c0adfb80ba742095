"""The CI workflow (valid GitHub Actions workflow, runs the README's test command and the
linters) and the README's Deploy section (a section per flavour whose offline commands run)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import CHART, KUBE_VERSION, ROOT

FLAVOURS = ("Docker Compose", "Kubernetes (plain manifests)", "Helm", "Project Tye")


def workflow() -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    return doc


def test_ci_workflow_is_valid() -> None:
    schema = json.loads((resources.files("check_jsonschema.builtin_schemas.vendor")
                         / "github-workflows.json").read_text())
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    doc = {("on" if k is True else k): v for k, v in workflow().items()}
    jsonschema.validate(doc, schema)


def test_ci_runs_the_test_command_and_the_linters() -> None:
    runs = [s.get("run", "") for job in workflow()["jobs"].values() for s in job["steps"]]
    assert any(r.strip() == "bash scripts/test.sh" for r in runs)
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert any("ruff check" in r for r in runs) and any(r.strip().endswith("mypy") for r in runs)
    # Plain YAML is published from the chart, never kept beside it.
    assert any(".local/bin/helm template shop k8s/helm/ecommerce" in r for r in runs)


def deploy_section() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^## Deploy\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert found, "README has no Deploy section"
    return found.group(1)


def commands(section: str) -> list[str]:
    return [line.split("  #")[0].strip()
            for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_readme_has_a_section_per_flavour(flavour: str) -> None:
    section = deploy_section()
    found = re.search(rf"^### {re.escape(flavour)}\n(.*?)(?=^### |\Z)", section, re.S | re.M)
    assert found, f"no README section for {flavour}"
    assert commands(found.group(1)), f"no commands for {flavour}"


def test_readme_deploy_commands_name_real_files() -> None:
    for cmd in commands(deploy_section()):
        for word in shlex.split(cmd.replace("(", " ").replace(")", " ")):
            if re.match(r"^(docker|k8s|scripts|tests|templates)/", word) or word.endswith(".yaml"):
                path = ROOT / word.split("=", 1)[-1]
                if word.startswith("templates/"):  # helm --show-only: inside the chart
                    path = CHART / word
                if not word.startswith("/"):
                    assert path.exists(), f"README names {word}, which does not exist"


def test_readme_helm_commands_render(helm: Path, tmp_path: Path) -> None:
    """The README's Helm commands, installs run as `helm template` (same chart, same values):
    a full render has the Deployments; the plain-YAML recipe's Secrets-only render has the
    Secrets and nothing else, and its other render none of them (they are made once)."""
    cmds = [c for c in commands(deploy_section()) if c.startswith(".local/bin/helm ")]
    assert len(cmds) >= 4
    seen_secrets_only = False
    for cmd in cmds:
        args = shlex.split(re.split(r"[>|]", cmd)[0])[1:]
        if args[0] == "upgrade":
            skip = ("--install", "--create-namespace")
            args = ["template", *[a for a in args[2:] if a not in skip],
                    "--kube-version", KUBE_VERSION]
        r = subprocess.run([str(helm), *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, (cmd, r.stderr)
        kinds = {d["kind"] for d in yaml.safe_load_all(r.stdout) if d}
        if "--show-only" in args:
            assert args[args.index("--show-only") + 1] == "templates/secrets.yaml", cmd
            assert kinds == {"Secret"}, cmd
            seen_secrets_only = True
        else:
            assert "Deployment" in kinds, cmd
            if "secrets.create=false" in args:
                assert "Secret" not in kinds, cmd
    assert seen_secrets_only and CHART.exists()


def test_readme_validation_command_is_this_suite() -> None:
    assert ".venv/bin/python -m pytest tests/deploy -q" in commands(deploy_section())
