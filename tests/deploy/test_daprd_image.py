"""The patched Dapr runtime image (docker/daprd.Dockerfile) without a Docker engine: the
recipe passes hadolint and has the properties every flavour relies on, and its build step,
scripts/build-dapr.sh with CGO_ENABLED=0 into a chosen folder, is run for real here: the
binaries it makes are static (they run on distroless/static) and report the pinned version."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, versions

DOCKERFILE = ROOT / "docker" / "daprd.Dockerfile"
IGNORE = ROOT / "docker" / "daprd.Dockerfile.dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"
BINARIES = ("daprd", "placement", "scheduler")
PT_INTERP, PT_DYNAMIC = 3, 2


def stages() -> list[list[str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[list[str]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if line and not line.startswith("#"):
            if line.upper().startswith("FROM "):
                out.append([])
            if out:
                out[-1].append(line)
    return out


def test_hadolint() -> None:
    r = subprocess.run([str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_build_stage_runs_the_projects_build_script_statically() -> None:
    build, _ = stages()
    run = "\n".join(i for i in build if i.startswith("RUN "))
    assert "CGO_ENABLED=0 bash scripts/build-dapr.sh /out" in run
    base = re.search(r"^ARG GO_IMAGE=golang:(\d+\.\d+\.\d+)-\w+$", DOCKERFILE.read_text(), re.M)
    assert base, "the Go image is pinned to a patch release"
    go_mod = (ROOT / "dapr" / "runtime" / "go.mod").read_text()
    need = re.search(r"^go (\d+\.\d+(?:\.\d+)?)$", go_mod, re.M)
    assert need
    have = tuple(int(x) for x in base.group(1).split("."))
    assert have >= tuple(int(x) for x in need.group(1).split(".")), "Go older than go.mod asks"


def test_final_stage_is_distroless_static_nonroot_with_the_three_binaries() -> None:
    text = DOCKERFILE.read_text()
    runtime = re.search(r"^ARG RUNTIME_IMAGE=(\S+)$", text, re.M)
    assert runtime and re.fullmatch(r"gcr\.io/distroless/static-debian\d+:nonroot(@sha256:\w+)?",
                                    runtime.group(1))
    final = stages()[-1]
    assert final[0].startswith("FROM ${RUNTIME_IMAGE}")
    copy = [i for i in final if i.startswith("COPY --from=build ")]
    assert copy == ["COPY --from=build /out/daprd /out/placement /out/scheduler /"]
    user = [i for i in final if i.startswith("USER ")]
    assert user and re.fullmatch(r"USER [1-9]\d*:[1-9]\d*", user[-1]), "numeric non-root USER"
    assert not any(i.startswith("RUN ") for i in final), "no shell in distroless"


def test_build_context_is_an_allow_list_of_what_the_build_reads() -> None:
    patterns = [p.strip() for p in IGNORE.read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = [s for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.M)
               for s in line.split()[:-1]]
    assert sources and {s.rstrip("/") for s in sources} == allowed
    assert not {".env", ".local", ".venv", ".git"} & allowed


def elf_segments(path: Path) -> set[int]:
    """The program header types of a 64-bit little-endian ELF file."""
    with path.open("rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, f"{path}: not ELF64"
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return {struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)}


def test_static_check_can_fail() -> None:
    assert PT_INTERP in elf_segments(Path(sys.executable).resolve())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/build-dapr.sh as the image's build stage runs it, into a fresh folder (Go's
    build cache, shared with the local build, keeps a repeat to about a minute)."""
    out = tmp_path_factory.mktemp("daprd") / "bin"
    env = dict(os.environ, CGO_ENABLED="0")
    r = subprocess.run(["bash", str(ROOT / "scripts" / "build-dapr.sh"), str(out)], env=env,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "applying 0001-" in r.stdout, "the patches were applied"
    return out


@pytest.mark.parametrize("name", BINARIES)
def test_built_binary_is_static(built: Path, name: str) -> None:
    segments = elf_segments(built / name)
    assert PT_INTERP not in segments and PT_DYNAMIC not in segments, f"{name} is dynamic"
    info = subprocess.run(["go", "version", "-m", str(built / name)], check=True,
                          capture_output=True, text=True).stdout
    assert re.search(r"^\s+build\s+CGO_ENABLED=0$", info, re.M)
    assert re.search(r"^\s+build\s+-trimpath=true$", info, re.M)
    want = versions()["DAPR_RUNTIME_VERSION"]
    # The dapr module is our patched copy of the pinned release.
    assert re.search(rf"^\s+dep\s+github\.com/dapr/dapr\s+v{re.escape(want)}\s*$", info, re.M)
    assert re.search(r"^\s+=>\s+\S*dapr-src", info, re.M)


def test_built_daprd_reports_the_pinned_version(built: Path) -> None:
    out = subprocess.run([str(built / "daprd"), "--version"], check=True, capture_output=True,
                         text=True, timeout=30).stdout.strip()
    assert out == versions()["DAPR_RUNTIME_VERSION"]


def test_build_script_passes_shellcheck() -> None:
    script = ROOT / "scripts" / "build-dapr.sh"
    r = subprocess.run([str(HADOLINT.parent / "shellcheck"), "-x", script.name],
                       capture_output=True, text=True, cwd=script.parent, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "python" not in script.read_text().split("set -euo pipefail", 1)[1], (
        "the golang build image has no python")
