"""The stack launcher fails fast, with the failing process's log, instead of hanging."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import stack
from tests.deploy.conftest import service_apps


def test_a_process_that_dies_at_start_up_fails_with_its_log(tmp_path: Path) -> None:
    app_id = f"broken-{uuid.uuid4().hex[:6]}"
    app = stack.App(app_id=app_id, port=1, dapr_http=2, dapr_grpc=3, metrics=4,
                    config=tmp_path / "c.yaml", resources=[tmp_path], cwd=tmp_path,
                    command=[sys.executable, "-c",
                    "import sys; print('cannot read secret users-db-dsn'); sys.exit(3)"], env={})
    procs = {app_id: stack.Proc(app_id, app.command),
             f"{app_id}-dapr": stack.Proc(f"{app_id}-dapr", [sys.executable, "-c",
                                                               "import time; time.sleep(30)"])}
    try:
        for p in procs.values():
            p.start()
        with pytest.raises(stack.StackError) as err:
            stack.wait_ready([app], procs, timeout=30)
        assert "exited during start-up" in str(err.value)
        assert "cannot read secret users-db-dsn" in str(err.value)
    finally:
        for p in procs.values():
            p.stop(timeout=2)
            p.logfile.unlink(missing_ok=True)


def test_the_run_file_gives_every_app_distinct_ports() -> None:
    _, apps = stack.load_apps()
    ports = [p for a in apps for p in (a.port, a.dapr_http, a.dapr_grpc, a.metrics)]
    assert len(ports) == len(set(ports))
    # every service under services/ (its folder name is its app id)
    assert {a.app_id for a in apps} == set(service_apps())
    for a in apps:
        assert a.config.exists(), a.config


def test_a_process_is_alive_while_any_of_its_threads_runs(tmp_path: Path) -> None:
    """The main thread exits first and shows as a zombie; a thread still holds a listening
    socket. Taking that for a dead process let a restarted daprd find its port in use."""
    import subprocess
    import time

    code = (
        "import ctypes, socket, sys, threading, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "threading.Thread(target=lambda: time.sleep(1.5)).start()\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{proc.pid}/stat").read_text().split(") ", 1)[1][0] != "Z":
        assert time.monotonic() < deadline, "the main thread never exited"
        time.sleep(0.01)
    assert stack._alive(proc.pid)
    assert stack.port_open(port)
    while stack._alive(proc.pid):
        assert time.monotonic() < deadline, "the process never ended"
        time.sleep(0.01)
    assert not stack.port_open(port)
    proc.wait()


def _layout(tmp_path: Path) -> Path:
    """A repository shaped like ours: run file in dapr/, apps at the root."""
    for d in ("dapr/config", "components", "svc/.dapr/resources", "shared"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("dapr/config/a.yaml", "dapr/common.yaml", "svc/.dapr/config.yaml"):
        (tmp_path / f).write_text("kind: Configuration\n")
    return tmp_path / "dapr" / "dapr.yaml"


def test_run_file_paths_follow_the_dapr_cli() -> None:
    """The rules of dapr/cli v1.18.0, pkg/runfileconfig/run_file_config_parser.go
    (validateRunConfig, resolveConfigFilePath, resolveResourcesFilePath): `appDirPath` and
    `common` paths are relative to the run file's folder; an app's own `configFilePath` and
    `resourcesPath` are relative to its `appDirPath`; without its own, an app uses
    `<appDirPath>/.dapr/` when present, then `common`."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        run_file = _layout(root)
        run = {"common": {"resourcesPath": "../components", "configFilePath": "common.yaml"}}
        own = {"appID": "a", "appDirPath": "../", "configFilePath": "dapr/config/a.yaml"}
        assert stack.run_file_paths(run, own, run_file) == (
            root, root / "dapr/config/a.yaml", [root / "components"])
        local = {"appID": "s", "appDirPath": "../svc"}
        assert stack.run_file_paths(run, local, run_file) == (
            root / "svc", root / "svc/.dapr/config.yaml", [root / "svc/.dapr/resources"])
        bare = {"appID": "b", "appDirPath": "../shared"}
        assert stack.run_file_paths(run, bare, run_file) == (
            root / "shared", root / "dapr/common.yaml", [root / "components"])
        # Relative to the run file instead of appDirPath: the CLI refuses it, so do we.
        wrong = {**own, "configFilePath": "config/a.yaml"}
        with pytest.raises(stack.StackError, match="does not exist"):
            stack.run_file_paths(run, wrong, run_file)


def test_the_run_file_resolves_under_the_cli_rules() -> None:
    _, apps = stack.load_apps()
    for app in apps:
        assert app.config == stack.ROOT / "dapr" / "config" / f"{app.app_id}.yaml"
        assert app.resources == [stack.ROOT / "components"]
        assert app.cwd == stack.ROOT
