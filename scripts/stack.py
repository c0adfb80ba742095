"""Start and stop the local platform: PostgreSQL, Redis, the SMTP sink, Dapr placement and
scheduler, and every app of dapr/dapr.yaml with its daprd sidecar.

    python scripts/stack.py up          # start everything, wait until ready, stay in foreground
    python scripts/stack.py up --detach # start everything and return once ready
    python scripts/stack.py down        # stop everything this script started
    python scripts/stack.py up --observe                  # also Prometheus on :19090
    python scripts/stack.py up --replicas orders=2,gateway=2   # more replicas, one machine

The tests use the same functions (tests/conftest.py). Everything lives under .local/
(git-ignored): data, logs, pid files and the generated secrets. A second `up` first stops
whatever a previous run left behind.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
LOGS = LOCAL / "logs"
RUN = LOCAL / "run"
MAIL = LOCAL / "mail"
SECRETS_FILE = LOCAL / "secrets.json"
RUN_FILE = ROOT / "dapr" / "dapr.yaml"
DAPR_BIN = LOCAL / "dapr" / ".dapr" / "bin"
PYTHON = ROOT / ".venv" / "bin" / "python"

# Every port sits below 32768, outside Linux's range for outgoing connections, so a
# leftover client socket can never hold a port a server needs at restart.
PG_PORT = 15432
REDIS_PORT = 16379
SMTP_PORT = 2525
PLACEMENT_PORT = 16005
SCHEDULER_PORT = 16006
PLACEMENT_METRICS_PORT = 16090
SCHEDULER_METRICS_PORT = 16091
PROMETHEUS_PORT = 19090
PROMETHEUS_URL = f"http://127.0.0.1:{PROMETHEUS_PORT}"
SCRAPE_CONFIG = ROOT / "docs" / "ops" / "prometheus.yml"
# Replica k of an app (k = 1 for the second, ...) uses each of the app's ports + k * 100:
# orders-2 serves on 3103 with its daprd on 13103 (HTTP), 23103 (gRPC), 9103 (metrics),
# 24103 (internal gRPC, app port + INTERNAL_GRPC_OFFSET),
# gateway-2 on 8180; so do the app's own `*_PORT` variables of the run file. Up to
# MAX_REPLICAS replicas keep every port below 32768 and clear of the servers' ports.
REPLICA_PORT_STEP = 100
MAX_REPLICAS = 9
INTERNAL_GRPC_OFFSET = 21000
GATEWAY_URL = "http://127.0.0.1:8080"
DATABASE_APPS = ("users", "products", "orders", "payments", "inventory", "notifications")
ADMIN_EMAIL = "admin@shop.local"


def log(msg: str) -> None:
    print(f"[stack {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# secrets
# --------------------------------------------------------------------------------------------
def _ec_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def ensure_secrets() -> dict[str, str]:
    """Generate .local/secrets.json once (mode 600); later runs reuse it."""
    LOCAL.mkdir(exist_ok=True)
    existing: dict[str, str] = {}
    if SECRETS_FILE.exists():
        existing = json.loads(SECRETS_FILE.read_text())

    def token() -> str:
        return secrets.token_urlsafe(24)

    wanted: dict[str, Any] = {
        "postgres-password": token,
        "redis-password": token,
        "app-api-token": token,
        "dapr-api-token": token,
        "admin-password": token,
        "jwt-private-key": _ec_private_key_pem,
        "jwt-key-id": lambda: base64.urlsafe_b64encode(os.urandom(6)).decode().rstrip("="),
    }
    for app in DATABASE_APPS:
        wanted[f"{app}-db-password"] = token
    changed = False
    for key, make in wanted.items():
        if key not in existing:
            existing[key] = make()
            changed = True
    derived = {
        "redis-host": f"127.0.0.1:{REDIS_PORT}",
        "smtp-host": "127.0.0.1",
        "smtp-port": str(SMTP_PORT),
        "admin-email": ADMIN_EMAIL,
    }
    for app in DATABASE_APPS:
        derived[f"{app}-db-dsn"] = (f"postgresql://{app}:{existing[f'{app}-db-password']}"
                                    f"@127.0.0.1:{PG_PORT}/ecommerce_{app}")
    for key, value in derived.items():
        if existing.get(key) != value:
            existing[key] = value
            changed = True
    if changed:
        tmp = SECRETS_FILE.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        # Created private: the secrets are never readable by others, not even briefly.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(json.dumps(existing, indent=2))
        tmp.replace(SECRETS_FILE)
        log(f"secrets written to {SECRETS_FILE.relative_to(ROOT)}")
    return existing


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    user: str | None = None

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return LOGS / f"{self.name}.log"

    def start(self) -> subprocess.Popen[bytes]:
        RUN.mkdir(parents=True, exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        out = self.logfile.open("ab")
        env = {**os.environ, **self.env}
        kwargs: dict[str, Any] = {}
        if self.user:
            pw = pwd.getpwnam(self.user)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
            env["HOME"] = pw.pw_dir
        p = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        self.pidfile.write_text(str(p.pid))
        return p

    def stop(self, timeout: float = 10.0) -> None:
        stop_pidfile(self.pidfile, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would (the tests of durability use it)."""
        stop_pidfile(self.pidfile, 0, sig=signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        if state != "Z":
            return True
        # A multi-threaded process (every Go program) whose main thread has exited shows its
        # leader as a zombie while its other threads still run and hold its sockets; it is
        # gone only when they are, or a restart finds its ports still bound.
        return len(list(Path(f"/proc/{pid}/task").iterdir())) > 1
    return True


def stop_pidfile(pidfile: Path, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    pidfile.unlink(missing_ok=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, what: str, timeout: float, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not open port {port} within {timeout:.0f}s", proc)


class StackError(RuntimeError):
    def __init__(self, msg: str, proc: Proc | None = None) -> None:
        if proc is not None and proc.logfile.exists():
            tail = proc.logfile.read_text(errors="replace").splitlines()[-40:]
            msg += f"\n--- last lines of {proc.logfile} ---\n" + "\n".join(tail)
        super().__init__(msg)


# --------------------------------------------------------------------------------------------
# backing servers
# --------------------------------------------------------------------------------------------
def _pg_bin(name: str) -> str:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise StackError(f"PostgreSQL's {name} not found: run scripts/bootstrap.sh")
    return found


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as the `postgres` system user then."""
    return "postgres" if os.geteuid() == 0 else None


def postgres_proc() -> Proc:
    data = LOCAL / "pgdata"
    sock = LOCAL / "pgrun"
    return Proc("postgres", [_pg_bin("postgres"), "-D", str(data), "-p", str(PG_PORT),
                             "-c", "listen_addresses=127.0.0.1",
                             "-c", f"unix_socket_directories={sock}",
                             "-c", "max_connections=300", "-c", "fsync=on",
                             "-c", "shared_buffers=128MB", "-c", "log_min_messages=warning"],
                user=_pg_user())


def _let_postgres_reach(path: Path, user: str) -> None:
    """The postgres user must traverse every folder above its data directory. A checkout
    in a private folder (mode 700, as CI's may be) gets the search bit only (o+x: no listing)."""
    for folder in reversed(path.parents):
        ok = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)],
                            check=False).returncode == 0
        if not ok:
            log(f"adding o+x to {folder} so that the {user} user can reach .local/pgdata")
            folder.chmod(folder.stat().st_mode | 0o001)


def init_postgres(sec: dict[str, str]) -> None:
    data = LOCAL / "pgdata"
    sock = LOCAL / "pgrun"
    user = _pg_user()
    sock.mkdir(parents=True, exist_ok=True)
    if user:
        pw = pwd.getpwnam(user)
        os.chown(sock, pw.pw_uid, pw.pw_gid)
        _let_postgres_reach(sock, user)
    if (data / "PG_VERSION").exists():
        return
    log("initialising the PostgreSQL cluster in .local/pgdata")
    data.mkdir(parents=True, exist_ok=True)
    pwfile = LOCAL / "run" / "pgpass.tmp"
    pwfile.parent.mkdir(parents=True, exist_ok=True)
    pwfile.write_text(sec["postgres-password"])
    if user:
        pw = pwd.getpwnam(user)
        for p in (data, pwfile):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    data.chmod(0o700)
    try:
        initdb = Proc("initdb", [_pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                                 "--locale=C.UTF-8"], user=user)
        initdb.start().wait()
    finally:
        pwfile.unlink(missing_ok=True)
    if not (data / "PG_VERSION").exists():
        raise StackError("initdb failed", Proc("initdb", []))


def setup_databases(sec: dict[str, str]) -> None:
    """One database and one role per service (idempotent; passwords follow the secrets)."""
    import asyncio

    import asyncpg

    async def connect() -> asyncpg.Connection:
        # The port opens before recovery ends ("the database system is starting up").
        for _ in range(300):
            try:
                return await asyncpg.connect(host="127.0.0.1", port=PG_PORT, user="postgres",
                                             password=sec["postgres-password"],
                                             database="postgres")
            except (asyncpg.CannotConnectNowError, OSError):
                await asyncio.sleep(0.2)
            except asyncpg.InvalidPasswordError:
                raise StackError(
                    f"{SECRETS_FILE.relative_to(ROOT)} no longer matches the database in "
                    f"{(LOCAL / 'pgdata').relative_to(ROOT)} (was it replaced?): restore it, or "
                    "delete .local/pgdata to start with empty databases") from None
        raise StackError("PostgreSQL did not accept connections within 60s")

    async def run() -> None:
        conn = await connect()
        try:
            for app in DATABASE_APPS:
                pw = sec[f"{app}-db-password"].replace("'", "''")
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname=$1", app)
                verb = "ALTER" if exists else "CREATE"
                await conn.execute(f"{verb} ROLE \"{app}\" LOGIN PASSWORD '{pw}'")
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1",
                                           f"ecommerce_{app}"):
                    await conn.execute(f'CREATE DATABASE "ecommerce_{app}" OWNER "{app}"')
                await conn.execute(f'REVOKE ALL ON DATABASE "ecommerce_{app}" FROM PUBLIC')
        finally:
            await conn.close()

    asyncio.run(run())


def wait_redis(sec: dict[str, str], timeout: float, proc: Proc) -> None:
    """An open port is not enough: while Redis replays its append-only file it answers
    LOADING, and a daprd that meets that exits. Wait for PONG."""
    deadline = time.monotonic() + timeout
    password = sec["redis-password"].encode()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", REDIS_PORT),
                                                                    timeout=1) as s:
            s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n"
                      % (len(password), password))
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = s.recv(256)
                if not chunk:
                    break
                reply += chunk
            if reply.endswith(b"+PONG\r\n"):
                return
        time.sleep(0.2)
    raise StackError(f"Redis did not answer PING within {timeout:.0f}s", proc)


def redis_proc(sec: dict[str, str]) -> Proc:
    data = LOCAL / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = RUN / "redis.conf"
    RUN.mkdir(parents=True, exist_ok=True)
    # The password goes in a 600 file, not on the command line where `ps` shows it.
    conf.write_text(f"port {REDIS_PORT}\nbind 127.0.0.1\ndir {data}\nappendonly yes\n"
                    # AOF is the durability; RDB snapshots on top only cost a fork and CPU
                    # every minute of a busy checkout run.
                    f"save \"\"\nappendfsync everysec\nrequirepass {sec['redis-password']}\n"
                    "protected-mode yes\n")
    conf.chmod(0o600)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return Proc("redis", [binary, str(conf)])


def smtp_proc() -> Proc:
    MAIL.mkdir(parents=True, exist_ok=True)
    return Proc("smtp", [str(PYTHON), str(ROOT / "scripts" / "smtp_sink.py"), "--port",
                         str(SMTP_PORT), "--dir", str(MAIL)])


# The address the Dapr processes announce to one another (placement, scheduler, name
# resolution). The whole stack listens on loopback, so it announces loopback too: without
# it each looks for the machine's network address, and the scheduler exits ("could not
# determine host IP address") where loopback is all there is (offline, or `unshare -n`).
DAPR_HOST_ENV = {"DAPR_HOST_IP": "127.0.0.1"}


def placement_proc() -> Proc:
    return Proc("placement", [str(DAPR_BIN / "placement"), "--port", str(PLACEMENT_PORT),
                              "--healthz-port", "16080",
                              "--metrics-port", str(PLACEMENT_METRICS_PORT),
                              "--log-level", "warn"], env=dict(DAPR_HOST_ENV))


# The scheduler's etcd keeps every revision of every job until it compacts, and Dapr's
# default (1000000 revisions) is hours of checkouts: its memory grew 53 % in the soak's last
# 12 minutes (bench/README.md). Keep 5 minutes of history, and snapshot (truncating the
# in-memory raft log) every 10000 writes, etcd 3.6's own default, not Dapr's 100000.
SCHEDULER_ETCD_FLAGS = ("--etcd-compaction-mode", "periodic",
                        "--etcd-compaction-retention", "5m", "--etcd-snapshot-count", "10000")


def scheduler_proc() -> Proc:
    data = LOCAL / "scheduler"
    data.mkdir(parents=True, exist_ok=True)
    return Proc("scheduler", [str(DAPR_BIN / "scheduler"), "--port", str(SCHEDULER_PORT),
                              "--healthz-port", "16081",
                              "--metrics-port", str(SCHEDULER_METRICS_PORT),
                              "--etcd-data-dir", str(data), "--etcd-client-port", "16237",
                              *SCHEDULER_ETCD_FLAGS, "--log-level", "warn"],
                env=dict(DAPR_HOST_ENV))


# --------------------------------------------------------------------------------------------
# apps and sidecars (dapr/dapr.yaml)
# --------------------------------------------------------------------------------------------

def app_api_token(sec: dict[str, str], app_id: str) -> str:
    """The APP_API_TOKEN of one app (and its daprd): each app has its own, derived from the
    `app-api-token` secret, so a process holding one app's token cannot call another app
    directly (bypassing that app's sidecar) as if it were that app's daprd."""
    digest = hmac.new(sec["app-api-token"].encode(), app_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class App:
    app_id: str
    port: int
    dapr_http: int
    dapr_grpc: int
    metrics: int
    config: Path
    resources: list[Path]
    cwd: Path
    command: list[str]
    env: dict[str, str]
    replica: int = 0

    @property
    def name(self) -> str:
        """The process name: the app id for the first replica, `<app id>-<n>` for the n-th."""
        return self.app_id if self.replica == 0 else f"{self.app_id}-{self.replica + 1}"

    def replica_of(self, k: int) -> App:
        """Replica k of this app: the same app id, each port + k * REPLICA_PORT_STEP."""
        if not 0 <= k < MAX_REPLICAS:
            raise StackError(f"{self.app_id}: at most {MAX_REPLICAS} replicas")
        step = k * REPLICA_PORT_STEP
        env = {key: str(int(value) + step) if key.endswith("_PORT") and value.isdigit()
               else value for key, value in self.env.items()}
        return replace(self, port=self.port + step, dapr_http=self.dapr_http + step,
                       dapr_grpc=self.dapr_grpc + step, metrics=self.metrics + step, env=env,
                       replica=k)

    @property
    def scrape_port(self) -> int:
        """Where the app serves /metrics: its `*_INTERNAL_PORT` if it has one (the gateway
        keeps metrics off its public port), else its port."""
        internal = [v for k, v in self.env.items() if k.endswith("_INTERNAL_PORT")]
        return int(internal[0]) if internal else self.port

    def app_proc(self, sec: dict[str, str]) -> Proc:
        env = {**self.env, "APP_ID": self.app_id, "APP_PORT": str(self.port),
               "DAPR_HTTP_PORT": str(self.dapr_http), "DAPR_GRPC_PORT": str(self.dapr_grpc),
               "APP_API_TOKEN": app_api_token(sec, self.app_id),
               "DAPR_API_TOKEN": sec["dapr-api-token"], "PYTHONUNBUFFERED": "1"}
        # The CLI runs the command in the app's folder; a relative program is found there.
        argv = [str(self.cwd / c) if "/" in c and not c.startswith("/") and i == 0 else c
                for i, c in enumerate(self.command)]
        return Proc(self.name, argv, env=env, cwd=self.cwd)

    def sidecar_proc(self, sec: dict[str, str], run: dict[str, Any]) -> Proc:
        common = run.get("common", {})
        config = self.config
        name_resolution_folder(config).mkdir(parents=True, exist_ok=True)
        if endpoint := os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            config = with_otel(config, endpoint)
        argv = [str(DAPR_BIN / "daprd"), "--app-id", self.app_id, "--app-port", str(self.port),
                "--app-protocol", common.get("appProtocol", "http"),
                "--app-channel-address", "127.0.0.1",
                "--dapr-http-port", str(self.dapr_http), "--dapr-grpc-port", str(self.dapr_grpc),
                "--metrics-port", str(self.metrics), "--dapr-listen-addresses", "127.0.0.1",
                *(arg for path in self.resources for arg in ("--resources-path", str(path))),
                "--config", str(config),
                "--placement-host-address", common.get("placementHostAddress",
                                                       f"127.0.0.1:{PLACEMENT_PORT}"),
                "--scheduler-host-address", common.get("schedulerHostAddress",
                                                       f"127.0.0.1:{SCHEDULER_PORT}"),
                "--log-level", common.get("logLevel", "info"), "--log-as-json",
                "--enable-app-health-check=false",
                # daprd derives its internal gRPC port from the app id when it is free: two
                # replicas starting together took the same one, registered the same address
                # for name resolution, and the first one's daprd exited ("Host registration
                # lost"). Replicas get their own: app port + INTERNAL_GRPC_OFFSET.
                *(["--dapr-internal-grpc-port", str(self.port + INTERNAL_GRPC_OFFSET)]
                  if self.replica else []),
                # Extra flags for one session, e.g. `--enable-profiling --profile-port 17777`
                # with `stack.py restart <app>` to take a pprof profile of that sidecar.
                *shlex.split(os.environ.get("ECOMMERCE_DAPRD_ARGS", ""))]
        env = {"APP_API_TOKEN": app_api_token(sec, self.app_id),
               "DAPR_API_TOKEN": sec["dapr-api-token"], **DAPR_HOST_ENV,
               **{k: os.environ.get(k, v) for k, v in DAPRD_GO_ENV.items()}}
        return Proc(f"{self.name}-dapr", argv, env=env)


# Go runtime settings of every daprd (each can be overridden from the environment). Seven
# sidecars share the machine's cores with the apps: one OS thread running Go code each
# keeps them from spinning and preempting one another, and collecting garbage at 4x the
# live heap instead of 2x halves the GC work on the invocation path. Measured with
# bench/bench_gateway.py on 2 cores: +25 % through both sidecars, +35 % through the
# gateway (bench/README.md). A daprd holds 75-125 MB RSS, about 58 MB of it the mapped
# binary. No GOMEMLIMIT: 32 MiB kept sidecars under 92 MB but cost the checkout burst 30 %
# (bench/README.md, "Memory").
DAPRD_GO_ENV = {"GOMAXPROCS": "1", "GOGC": "400"}


def name_resolution_folder(config: Path, cwd: Path | None = None) -> Path:
    """The folder of the sqlite name resolution database a Configuration names, relative to
    daprd's working directory: SQLite creates the file, not its folder."""
    spec = yaml.safe_load(config.read_text())["spec"]
    connection = spec["nameResolution"]["configuration"]["connectionString"]
    return ((cwd or ROOT) / connection).parent


def with_otel(config: Path, endpoint: str, out_dir: Path = RUN) -> Path:
    """A copy of a Dapr Configuration whose tracing exports to `endpoint` over OTLP/HTTP
    (the same collector as the apps' OTEL_EXPORTER_OTLP_ENDPOINT)."""
    from urllib.parse import urlsplit

    doc = yaml.safe_load(config.read_text())
    url = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    doc["spec"].setdefault("tracing", {})["otel"] = {
        "endpointAddress": url.netloc, "isSecure": url.scheme == "https", "protocol": "http"}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"config-{config.stem}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def run_file_paths(run: dict[str, Any], app: dict[str, Any],
                   run_file: Path = RUN_FILE) -> tuple[Path, Path, list[Path]]:
    """An app's directory, Dapr Configuration and resources folders, resolved by the Dapr
    CLI's own rules (dapr/cli v1.18.0, pkg/runfileconfig/run_file_config_parser.go:
    validateRunConfig, resolveConfigFilePath, resolveResourcesFilePath):
    - `appDirPath` and the `common` section's paths are relative to the run file's folder;
    - an app's own `configFilePath` and `resourcesPath(s)` are relative to its `appDirPath`;
    - an app without its own falls back to `<appDirPath>/.dapr/config.yaml` or
      `.dapr/resources` when that exists, then to the `common` section's."""
    base = run_file.parent
    common = run.get("common") or {}
    app_dir = (base / app["appDirPath"]).resolve()

    def own(key: str) -> list[Path]:
        values = app.get(key) or []
        return [(app_dir / v).resolve() for v in ([values] if isinstance(values, str) else values)]

    def shared(key: str) -> list[Path]:
        values = common.get(key) or []
        return [(base / v).resolve() for v in ([values] if isinstance(values, str) else values)]

    config = (own("configFilePath") or [app_dir / ".dapr" / "config.yaml"])[0]
    if not app.get("configFilePath") and not config.exists():
        config = shared("configFilePath")[0]
    resources = own("resourcesPaths") + own("resourcesPath")
    if not resources:
        local = app_dir / ".dapr" / "resources"
        resources = ([local] if local.is_dir()
                     else shared("resourcesPaths") + shared("resourcesPath"))
    for path in (app_dir, config, *resources):
        if not path.exists():
            raise StackError(f"{run_file.name}: {app['appID']}: {path} does not exist")
    return app_dir, config, resources


def load_apps() -> tuple[dict[str, Any], list[App]]:
    run = yaml.safe_load(RUN_FILE.read_text())
    common_env = run.get("common", {}).get("env", {}) or {}
    apps = []
    for a in run["apps"]:
        app_dir, config, resources = run_file_paths(run, a)
        apps.append(App(
            app_id=a["appID"], port=int(a["appPort"]), dapr_http=int(a["daprHTTPPort"]),
            dapr_grpc=int(a["daprGRPCPort"]), metrics=int(a["metricsPort"]),
            config=config, resources=resources, cwd=app_dir,
            command=list(a["command"]), env={**common_env, **(a.get("env") or {})},
        ))
    return run, apps


def app_by_id(app_id: str) -> App:
    return next(a for a in load_apps()[1] if a.app_id == app_id)


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


# --------------------------------------------------------------------------------------------
# the whole stack
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def stack_lock() -> Iterator[None]:
    """One start, stop or restart at a time (several shells may share one stack)."""
    RUN.mkdir(parents=True, exist_ok=True)
    with (RUN / "stack.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    t = time.monotonic()
    log(f"{what} ...")
    yield
    log(f"{what}: done in {time.monotonic() - t:.1f}s")


def down() -> None:
    """Stop everything a previous `up` started (pid files in .local/run)."""
    if not RUN.exists():
        return
    with stack_lock():
        _down()


def _down() -> None:
    pidfiles = sorted(RUN.glob("*.pid"))
    # apps first, then sidecars, then the servers they use
    order = {"postgres": 3, "redis": 3, "placement": 2, "scheduler": 2, "smtp": 2}
    pidfiles.sort(key=lambda p: order.get(p.stem, 1 if p.stem.endswith("-dapr") else 0))
    for pf in pidfiles:
        stop_pidfile(pf, timeout=15)


def wait_ready(apps: list[App], procs: dict[str, Proc], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = {a.name for a in apps}
    while pending and time.monotonic() < deadline:
        for app in [a for a in apps if a.name in pending]:
            for name in (app.name, f"{app.name}-dapr"):
                pid = int(procs[name].pidfile.read_text()) if procs[name].pidfile.exists() else 0
                if not pid or not _alive(pid):
                    raise StackError(f"{name} exited during start-up", procs[name])
            path = "/health/ready"
            code, _ = http_get(f"http://127.0.0.1:{app.port}{path}")
            if code == 200:
                pending.discard(app.name)
                log(f"  {app.name} ready on :{app.port}")
        time.sleep(0.3)
    if pending:
        name = sorted(pending)[0]
        raise StackError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}",
                         procs[name])
    code, body = http_get(f"{GATEWAY_URL}/health", timeout=10)
    if code != 200:
        raise StackError(f"gateway /health answered {code}: {body[:500]!r}")


def up(timeout: float = 180.0, servers_only: bool = False,
       replicas: dict[str, int] | None = None, observe: bool = False) -> dict[str, str]:
    """Start the whole platform and return once the gateway reports every service ready
    (with `servers_only`, just the backing servers, placement and scheduler: the apps are
    then started by `dapr run -f`, see scripts/dapr-run.sh). `replicas` runs more than one
    of an app, each with its own daprd ({"orders": 2}); `observe` also starts Prometheus."""
    if not (DAPR_BIN / "daprd").exists():
        raise StackError("the Dapr runtime is not built: run scripts/bootstrap.sh")
    with stack_lock():
        _down()
        try:
            return _up(timeout, servers_only, replicas or {}, observe)
        except BaseException:  # a failed or interrupted start leaves nothing running
            _down()
            raise


def _up(timeout: float, servers_only: bool = False, replicas: dict[str, int] | None = None,
        observe: bool = False) -> dict[str, str]:
    sec = ensure_secrets()
    run, apps = load_apps()
    # Also for --servers-only: the Dapr CLI (scripts/dapr-run.sh) and Tye start the sidecars.
    for a in apps:
        name_resolution_folder(a.config).mkdir(parents=True, exist_ok=True)
    apps = with_replicas(apps, replicas or {})
    if servers_only:
        apps = []
    for port, what in [(PG_PORT, "PostgreSQL"), (REDIS_PORT, "Redis"), (SMTP_PORT, "SMTP sink"),
                       (PLACEMENT_PORT, "placement"), (SCHEDULER_PORT, "scheduler"),
                       *[(a.port, a.name) for a in apps],
                       *([(PROMETHEUS_PORT, "Prometheus")] if observe else [])]:
        if port_open(port):
            raise StackError(f"port {port} ({what}) is taken by a process this script did not "
                             "start; stop it first")
    procs: dict[str, Proc] = {}
    with step("starting PostgreSQL, Redis, the SMTP sink, Dapr placement and scheduler"):
        init_postgres(sec)
        for p in (postgres_proc(), redis_proc(sec), smtp_proc(), placement_proc(),
                  scheduler_proc()):
            p.start()
            procs[p.name] = p
        wait_port(PG_PORT, "PostgreSQL", 60, procs["postgres"])
        wait_redis(sec, 120, procs["redis"])
        wait_port(SMTP_PORT, "SMTP sink", 30, procs["smtp"])
        wait_port(PLACEMENT_PORT, "placement", 30, procs["placement"])
        wait_port(SCHEDULER_PORT, "scheduler", 60, procs["scheduler"])
        setup_databases(sec)
    if not apps:
        return sec
    with step(f"starting {len(apps)} apps with their Dapr sidecars"):
        for a in apps:
            for p in (a.sidecar_proc(sec, run), a.app_proc(sec)):
                p.start()
                procs[p.name] = p
        wait_ready(apps, procs, timeout)
    if observe:
        with step("starting Prometheus"):
            start_prometheus(apps)
    return sec


def with_replicas(apps: list[App], replicas: dict[str, int]) -> list[App]:
    """The apps of the run file plus the extra replicas asked for, each app's together."""
    unknown = set(replicas) - {a.app_id for a in apps}
    if unknown:
        raise StackError(f"--replicas: no app {', '.join(sorted(unknown))} in {RUN_FILE.name}")
    return [a.replica_of(k) for a in apps for k in range(replicas.get(a.app_id, 1))]


def parse_replicas(text: str) -> dict[str, int]:
    """`orders=2,gateway=2` -> {"orders": 2, "gateway": 2}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        app_id, _, count = part.partition("=")
        if not count.isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected <app id>=<replicas>, 1 to {MAX_REPLICAS}")
        out[app_id.strip()] = int(count)
    return out


def start_replicas(app_id: str, count: int, timeout: float = 120.0,
                   daprd_args: tuple[str, ...] = (),
                   app_env: dict[str, str] | None = None) -> list[App]:
    """Beside a running stack, start replicas 1..count-1 of one app (each with its daprd)
    and wait until they are ready; `down` stops them with the rest. Returns those replicas.
    `app_env` adds to or overrides the replicas' environment (e.g. a setting under test)."""
    sec = json.loads(SECRETS_FILE.read_text())
    run, _ = load_apps()
    extra = [replace(r, env={**r.env, **(app_env or {})})
             for r in (app_by_id(app_id).replica_of(k) for k in range(1, count))]
    procs: dict[str, Proc] = {}
    with stack_lock():
        for a in extra:
            if port_open(a.port):
                raise StackError(f"port {a.port} ({a.name}) is taken")
            sidecar = a.sidecar_proc(sec, run)
            sidecar.argv += list(daprd_args)
            for p in (sidecar, a.app_proc(sec)):
                p.start()
                procs[p.name] = p
        wait_ready(extra, procs, timeout)
    return extra


def stop_app(app: App, sec: dict[str, str], *, kill: bool = False) -> None:
    """Stop (or SIGKILL, like a crash) one replica of an app and its sidecar, for good."""
    run, _ = load_apps()
    with stack_lock():
        for p in (app.app_proc(sec), app.sidecar_proc(sec, run)):
            p.kill() if kill else p.stop()


# --------------------------------------------------------------------------------------------
# observability: Prometheus (Debian's package) with the project's scrape configuration
# --------------------------------------------------------------------------------------------
def prometheus_config(apps: list[App], interval: str = "5s") -> dict[str, Any]:
    """docs/ops/prometheus.yml with its static targets taken from the apps as they run here
    (every replica's app and daprd, placement, scheduler), without the Kubernetes job."""
    doc: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text())
    doc["global"] = {**doc.get("global", {}), "scrape_interval": interval,
                     "evaluation_interval": interval}
    targets = {
        "ecommerce-apps": [{"targets": [f"127.0.0.1:{a.scrape_port}"],
                            "labels": {"app": a.app_id, "replica": a.name}} for a in apps],
        "dapr-sidecars": [{"targets": [f"127.0.0.1:{a.metrics}"],
                           "labels": {"app": a.app_id, "replica": a.name}} for a in apps],
        "dapr-control-plane": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
                               for name, port in (("placement", PLACEMENT_METRICS_PORT),
                                                  ("scheduler", SCHEDULER_METRICS_PORT))],
    }
    jobs = [j for j in doc["scrape_configs"] if "static_configs" in j]
    if {j["job_name"] for j in jobs} != set(targets):
        raise StackError(f"{SCRAPE_CONFIG.relative_to(ROOT)}: expected the static jobs "
                         f"{sorted(targets)}")
    for job in jobs:
        job["static_configs"] = targets[job["job_name"]]
    doc["scrape_configs"] = jobs
    return doc


def start_prometheus(apps: list[App], timeout: float = 60.0) -> Proc:
    """Prometheus on 127.0.0.1:PROMETHEUS_PORT scraping every app and sidecar; `down` stops it."""
    binary = shutil.which("prometheus")
    if not binary:
        raise StackError("Prometheus is not installed: run scripts/bootstrap.sh --observe")
    RUN.mkdir(parents=True, exist_ok=True)
    conf = RUN / "prometheus.yml"
    conf.write_text(yaml.safe_dump(prometheus_config(apps), sort_keys=False))
    data = LOCAL / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc("prometheus", [binary, f"--config.file={conf}",
                               f"--storage.tsdb.path={data}",
                               "--storage.tsdb.retention.time=2d",
                               f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
                               "--log.level=warn"])
    proc.start()
    deadline = time.monotonic() + timeout
    while http_get(f"{PROMETHEUS_URL}/-/ready")[0] != 200:
        if time.monotonic() > deadline:
            raise StackError(f"Prometheus not ready after {timeout:.0f}s", proc)
        time.sleep(0.3)
    return proc


def restart_app(app_id: str, *, kill: bool = False, app: bool = True, sidecar: bool = True,
                timeout: float = 90.0) -> None:
    """Stop (or SIGKILL, like a crash) one app, its sidecar or both; start them again and
    wait until the app is ready."""
    sec = json.loads(SECRETS_FILE.read_text())
    run, _ = load_apps()
    target = app_by_id(app_id)
    procs = {p.name: p for p in (target.app_proc(sec), target.sidecar_proc(sec, run))}
    chosen = [p for p, wanted in zip(procs.values(), (app, sidecar), strict=True) if wanted]
    with stack_lock():
        for p in chosen:
            p.kill() if kill else p.stop()
        for p in reversed(chosen):
            p.start()
        wait_ready([target], procs, timeout)


def seed() -> None:
    seed_script = ROOT / "scripts" / "seed.py"
    if seed_script.exists():
        with step("seeding the demo catalog"):
            subprocess.run([str(PYTHON), str(seed_script)], check=True, cwd=ROOT)


def banner(sec: dict[str, str], observe: bool = False,
           replicas: dict[str, int] | None = None) -> None:
    extra = [a for a in with_replicas(load_apps()[1], replicas or {}) if a.replica]
    if extra:
        print("  Replicas      " + ", ".join(f"{a.name} on :{a.port} (daprd :{a.dapr_http})"
                                             for a in extra), flush=True)
    if observe:
        print(f"  Prometheus    {PROMETHEUS_URL}  (targets: {PROMETHEUS_URL}/targets)",
              flush=True)
    print(f"""
  The shop is running.
    Storefront    {GATEWAY_URL}/
    API gateway   {GATEWAY_URL}/api    (health: {GATEWAY_URL}/health)
    API docs      {GATEWAY_URL}/docs
    Admin login   {sec['admin-email']} / {sec['admin-password']}
                  (from {SECRETS_FILE.relative_to(ROOT)}, key admin-password)
    Mail sink     {MAIL.relative_to(ROOT)}/  (SMTP on 127.0.0.1:{SMTP_PORT})
    Logs          {LOGS.relative_to(ROOT)}/
  Ctrl-C stops everything.
""", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the platform")
    p_up.add_argument("--detach", action="store_true", help="return once ready")
    p_up.add_argument("--no-seed", action="store_true", help="skip the demo catalog")
    p_up.add_argument("--servers-only", action="store_true",
                      help="only PostgreSQL, Redis, the SMTP sink, placement and scheduler")
    p_up.add_argument("--observe", action="store_true",
                      help=f"also start Prometheus on {PROMETHEUS_URL}")
    p_up.add_argument("--replicas", type=parse_replicas, default={},
                      metavar="APP=N,...", help="run N replicas of an app, e.g. orders=2,gateway=2")
    sub.add_parser("down", help="stop the platform")
    p_restart = sub.add_parser("restart", help="restart one app and its sidecar")
    p_restart.add_argument("app_id")
    args = parser.parse_args()
    if args.cmd == "restart":
        restart_app(args.app_id)
        log(f"{args.app_id} restarted")
        return 0
    if args.cmd == "down":
        down()
        log("stopped")
        return 0
    t0 = time.monotonic()
    try:
        sec = up(servers_only=args.servers_only, replicas=args.replicas, observe=args.observe)
        if args.servers_only:
            log("backing servers ready; start the apps with `dapr run -f dapr/dapr.yaml`")
            return 0
        if not args.no_seed:
            seed()
    except (StackError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        down()  # up() cleans up after itself; this is for a failed seed
        return 1
    except KeyboardInterrupt:
        log("interrupted: stopping ...")
        down()
        return 130
    log(f"ready in {time.monotonic() - t0:.1f}s")
    banner(sec, args.observe, args.replicas)
    if args.detach:
        return 0
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop:
        time.sleep(0.5)
    log("stopping ...")
    down()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
