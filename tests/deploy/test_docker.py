"""The image recipe and the scripts the containers run: hadolint and shellcheck (binaries
from their PyPI wheels), the Dockerfile's essential properties, and the scripts themselves
run for real: the .env generator, the compose secret-store writer, the PostgreSQL init
script against a real PostgreSQL, the image's health check against a real HTTP server."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    ROOT,
    compose_text,
    database_apps,
    interpolate,
    service_apps,
)

VENV_BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# One script for compose (mounted) and the chart (files/, read by templates/postgresql.yaml).
INIT_SCRIPT = ROOT / "k8s" / "helm" / "ecommerce" / "files" / "init-databases.sh"
SHELL_SCRIPTS = [ROOT / "docker" / "gen-env.sh", INIT_SCRIPT, ROOT / "scripts" / "install-helm.sh"]


def stages() -> list[list[str]]:
    """The Dockerfile's stages, each a list of instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_hadolint() -> None:
    r = subprocess.run([str(VENV_BIN / "hadolint"), "--failure-threshold", "info",
                        str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\n")
    r = subprocess.run([str(VENV_BIN / "hadolint"), str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "DL3007" in r.stdout


def test_dockerfile_essentials() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is one pinned ARG"
    # A pinned Python 3.11 slim image: a full patch version or a digest, never a floating tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base.group(1))
    st = stages()
    assert len(st) >= 2, "multi-stage"
    final = st[-1]
    assert final[0].startswith("FROM ${PYTHON_IMAGE}")
    joined = "\n".join(final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "make "):
        assert tool not in joined, f"{tool!r} in the final stage"
    user = [i for i in final if i.startswith("USER ")]
    assert user and re.fullmatch(r"USER [1-9]\d*(:[1-9]\d*)?", user[-1]), "numeric non-root USER"
    assert any(i.startswith("HEALTHCHECK ") and "healthcheck.py" in i for i in final)
    cmd = next(i for i in final if i.startswith("CMD "))
    assert "services.${APP_ID" in cmd and "exec python -m" in cmd
    assert any(re.match(r"ENV .*APP_HOST=0\.0\.0\.0", i) for i in final)
    assert "--only-binary=:all:" in "\n".join(st[0])


def test_dockerignore_keeps_secrets_out_and_what_the_build_needs_in() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "allow-list: nothing enters the context unless listed"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+)", DOCKERFILE.read_text(), re.M)
    for src in sources:
        assert src.rstrip("/") in allowed, f"COPY {src} is not in the build context"
    assert not {".env", ".local", ".venv", ".git"} & allowed


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script: Path) -> None:
    r = subprocess.run([str(VENV_BIN / "shellcheck"), "-x", str(script)], capture_output=True,
                       text=True, cwd=script.parent, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.access(script, os.X_OK), f"{script} is not executable"


# ---------------------------------------------------------------------------------------------
# the .env generator and the compose secret-store writer
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated_env() -> dict[str, str]:
    out = subprocess.run(["sh", str(ROOT / "docker" / "gen-env.sh")], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return dict(line.split("=", 1) for line in out.splitlines()
                if line and not line.startswith("#"))


def test_generated_env_has_every_required_variable(generated_env: dict[str, str]) -> None:
    body = compose_text()
    required = set(re.findall(r"\$\{([A-Z_0-9]+):\?", body))
    assert required and required <= set(generated_env)
    interpolate(body, generated_env)  # raises on a missing required variable
    for name, value in generated_env.items():
        if "PASSWORD" in name:  # they go into DSNs as they are
            assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", value), name


def test_compose_secret_store_has_every_secret_the_apps_read(
        generated_env: dict[str, str], tmp_path: Path) -> None:
    """Run the `secrets` service's script with its interpolated environment: the file it
    writes holds every secret a component references and every app's Configuration allows,
    the DSNs point at the compose PostgreSQL, and the signing key is a P-256 key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    compose = yaml.safe_load(interpolate(compose_text(), generated_env))
    svc = compose["services"]["secrets"]
    env = {k: str(v) for k, v in svc["environment"].items()}
    target = tmp_path / "secrets.json"
    subprocess.run([sys.executable, str(ROOT / "docker" / "compose_secrets.py"), str(target)],
                   check=True, env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                   timeout=30)
    secrets = json.loads(target.read_text())
    wanted: set[str] = set()
    for cfg in (ROOT / "dapr" / "config").glob("*.yaml"):
        wanted |= set(yaml.safe_load(cfg.read_text())["spec"]["secrets"]["scopes"][0]
                      ["allowedSecrets"])
    for comp in (ROOT / "components").glob("*.yaml"):
        wanted |= set(re.findall(r"secretKeyRef: \{name: ([a-z0-9-]+)", comp.read_text()))
    assert wanted <= set(secrets), wanted - set(secrets)
    for app in database_apps():
        password = generated_env[f"{app.upper()}_DB_PASSWORD"]
        assert secrets[f"{app}-db-dsn"] == (
            f"postgresql://{app}:{password}@postgres:5432/ecommerce_{app}")
    key = load_pem_private_key(secrets["jwt-private-key"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert secrets["redis-host"].split(":")[0] in compose["services"]


# ---------------------------------------------------------------------------------------------
# the PostgreSQL init script, against a real PostgreSQL
# ---------------------------------------------------------------------------------------------
def pg_bin(name: str) -> str:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is missing: scripts/bootstrap.sh installs it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def scratch_postgres() -> Iterator[dict[str, Any]]:
    """A throw-away PostgreSQL cluster on a free loopback port (as `postgres` when root;
    pytest's own temporary folders are private to root, hence a folder of its own)."""
    base = Path(tempfile.mkdtemp(prefix="ecommerce-deploy-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    subprocess.run([pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True,
                   timeout=120, **kwargs)
    port = free_port()
    proc = subprocess.Popen([pg_bin("postgres"), "-D", str(data), "-p", str(port),
                             "-c", "listen_addresses=127.0.0.1",
                             "-c", f"unix_socket_directories={sock}", "-c", "fsync=off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "scratch PostgreSQL did not start"
            assert proc.poll() is None, "scratch PostgreSQL exited"
            time.sleep(0.1)
        yield {"port": port, "psql": pg_bin("psql")}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def run_init(pg: dict[str, Any], passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(pg['psql']).parent}:{os.environ['PATH']}", "PGHOST": "127.0.0.1",
           "PGPORT": str(pg["port"]), "POSTGRES_USER": "postgres", **passwords}
    return subprocess.run(["sh", str(INIT_SCRIPT)],
                          env=env, capture_output=True, text=True, timeout=60)


def psql(pg: dict[str, Any], sql: str) -> str:
    return subprocess.run([pg["psql"], "-h", "127.0.0.1", "-p", str(pg["port"]), "-U",
                           "postgres", "-d", "postgres", "-Atc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_init_script_creates_one_database_and_role_per_service(
        scratch_postgres: dict[str, Any]) -> None:
    apps = database_apps()
    # A quote and a backslash in a password must not break (or inject into) the SQL.
    passwords = {f"{a.upper()}_DB_PASSWORD": f"pw-{a}-'\\\";" for a in apps}
    r = run_init(scratch_postgres, passwords)
    assert r.returncode == 0, r.stderr
    rows = dict(line.split("|", 1) for line in psql(
        scratch_postgres, "SELECT datname, pg_get_userbyid(datdba) || '|' || datacl::text "
                          "FROM pg_database WHERE datname LIKE 'ecommerce_%'").splitlines())
    for app in apps:
        owner, acl = rows[f"ecommerce_{app}"].split("|", 1)
        assert owner == app
        assert "=Tc/" not in acl and "=c/" not in acl, f"PUBLIC may connect to {app}: {acl}"
    assert run_init(scratch_postgres, passwords).returncode == 0, "a second run is a no-op"


def test_init_script_refuses_a_missing_password(scratch_postgres: dict[str, Any]) -> None:
    r = run_init(scratch_postgres, {"USERS_DB_PASSWORD": "x"})
    assert r.returncode != 0 and "PRODUCTS_DB_PASSWORD is not set" in r.stderr


# ---------------------------------------------------------------------------------------------
# the image's health check
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def http_server(status: int) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health/ready" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_script(status: int, healthy: bool) -> None:
    with http_server(status) as port:
        r = subprocess.run([sys.executable, str(ROOT / "docker" / "healthcheck.py")],
                           env={"APP_ID": "users", "APP_PORT": str(port)}, capture_output=True,
                           text=True, timeout=30)
    assert (r.returncode == 0) is healthy, r.stderr


def test_healthcheck_finds_each_default_port() -> None:
    """Without APP_PORT the check reads the service's default port, as the service does."""
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "docker" / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for app, port in service_apps().items():
        assert module.port({"APP_ID": app}, ROOT / "services") == port
    assert module.port({"APP_ID": "users", "APP_PORT": "9999"}) == 9999
