"""`stack.py up --replicas` and `--observe` without a stack: the port rule of replicas, and
the Prometheus configuration generated from the run file and docs/ops/prometheus.yml (which
promtool, from Debian's package like the server, accepts)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import stack

SERVER_PORTS = {stack.PG_PORT, stack.REDIS_PORT, stack.SMTP_PORT, stack.PLACEMENT_PORT,
                stack.SCHEDULER_PORT, stack.PLACEMENT_METRICS_PORT,
                stack.SCHEDULER_METRICS_PORT, stack.PROMETHEUS_PORT, 16080, 16081, 16237}


def ports(app: stack.App) -> list[int]:
    return [app.port, app.dapr_http, app.dapr_grpc, app.metrics]


def test_every_replica_of_every_app_gets_its_own_ports() -> None:
    _, apps = stack.load_apps()
    everything = stack.with_replicas(apps, dict.fromkeys((a.app_id for a in apps),
                                                         stack.MAX_REPLICAS))
    assert len(everything) == len(apps) * stack.MAX_REPLICAS
    used = [p for a in everything for p in {*ports(a), a.scrape_port}]
    used += [a.port + stack.INTERNAL_GRPC_OFFSET for a in everything if a.replica]
    assert len(used) == len(set(used)), "two processes on one port"
    assert not set(used) & SERVER_PORTS
    assert max(used) < 32768, "inside Linux's range for outgoing connections"
    orders2 = next(a for a in everything if a.name == "orders-2")
    assert (orders2.app_id, ports(orders2)) == ("orders", [3103, 13103, 23103, 9103])
    gateway2 = next(a for a in everything if a.name == "gateway-2")
    assert gateway2.port == 8180
    gateway = next(a for a in everything if a.name == "gateway")
    assert gateway2.scrape_port == gateway.scrape_port + 100
    assert gateway2.app_proc({"app-api-token": "", "dapr-api-token": ""}).env[
        "GATEWAY_INTERNAL_PORT"] == str(gateway2.scrape_port)
    with pytest.raises(stack.StackError):
        apps[0].replica_of(stack.MAX_REPLICAS)


def test_replica_processes_are_named_apart_with_the_same_app_id() -> None:
    sec = {"app-api-token": "a", "dapr-api-token": "d"}
    run, apps = stack.load_apps()
    orders = next(a for a in apps if a.app_id == "orders")
    second = orders.replica_of(1)
    app_p, side_p = second.app_proc(sec), second.sidecar_proc(sec, run)
    assert (app_p.name, side_p.name) == ("orders-2", "orders-2-dapr")
    assert app_p.env["APP_PORT"] == "3103" and app_p.env["DAPR_HTTP_PORT"] == "13103"
    argv = side_p.argv
    assert argv[argv.index("--app-id") + 1] == "orders"
    assert argv[argv.index("--app-port") + 1] == "3103"
    assert argv[argv.index("--metrics-port") + 1] == "9103"
    # its own internal gRPC port: the app id's default would be the first replica's
    assert argv[argv.index("--dapr-internal-grpc-port") + 1] == "24103"
    assert "--dapr-internal-grpc-port" not in orders.sidecar_proc(sec, run).argv


def test_parse_replicas() -> None:
    assert stack.parse_replicas("orders=2,gateway=2") == {"orders": 2, "gateway": 2}
    for bad in ("orders", "orders=0", "orders=x", f"orders={stack.MAX_REPLICAS + 1}"):
        with pytest.raises(argparse.ArgumentTypeError):
            stack.parse_replicas(bad)
    with pytest.raises(stack.StackError, match="no app nope"):
        stack.with_replicas(stack.load_apps()[1], {"nope": 2})


def test_prometheus_scrapes_every_app_sidecar_and_the_control_plane(tmp_path: Path) -> None:
    _, apps = stack.load_apps()
    running = stack.with_replicas(apps, {"orders": 2, "gateway": 2})
    conf = stack.prometheus_config(running)
    project = yaml.safe_load(stack.SCRAPE_CONFIG.read_text())
    static_jobs = {j["job_name"] for j in project["scrape_configs"] if "static_configs" in j}
    assert {j["job_name"] for j in conf["scrape_configs"]} == static_jobs

    def targets(job: str) -> set[str]:
        (found,) = [j for j in conf["scrape_configs"] if j["job_name"] == job]
        return {t for group in found["static_configs"] for t in group["targets"]}

    assert targets("ecommerce-apps") == {f"127.0.0.1:{a.scrape_port}" for a in running}
    assert targets("dapr-sidecars") == {f"127.0.0.1:{a.metrics}" for a in running}
    assert targets("dapr-control-plane") == {"127.0.0.1:16090", "127.0.0.1:16091"}
    assert "127.0.0.1:3103" in targets("ecommerce-apps")
    promtool = shutil.which("promtool")
    assert promtool, "Debian's prometheus package is missing: run scripts/bootstrap.sh"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(conf))
    r = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sqlite_name_resolution_never_runs_its_cleanup() -> None:
    """The sqlite resolver's clean-up deletes the rows renewed in the last `updateInterval`
    seconds (`now - last_update < 5`): every live host, whose daprd then exits with "Host
    registration lost". After an hour of running, the local stack would lose every sidecar."""
    _, apps = stack.load_apps()
    for app in apps:
        spec = yaml.safe_load(app.config.read_text())["spec"]
        assert spec["nameResolution"]["component"] == "sqlite", app.app_id
        assert spec["nameResolution"]["configuration"]["cleanupInterval"] == "0", app.app_id


def test_every_sidecar_shares_one_name_resolution_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One database for every app (a resolver only finds the hosts registered in its own
    file), in a folder of its own under .local/: docker-compose.yml mounts a writable volume
    there, the rest of .local/ being the read-only secret store. Starting a sidecar creates
    the folder, since SQLite creates only the file."""
    run, apps = stack.load_apps()
    assert {stack.name_resolution_folder(a.config) for a in apps} == {stack.LOCAL / "dapr-nr"}
    monkeypatch.setattr(stack, "ROOT", tmp_path)
    assert not (tmp_path / ".local" / "dapr-nr").exists()
    apps[0].sidecar_proc({"dapr-api-token": "t", "app-api-token": "a"}, run)
    assert (tmp_path / ".local" / "dapr-nr").is_dir()


def test_every_dapr_process_announces_loopback() -> None:
    """Placement, the scheduler and every sidecar announce 127.0.0.1, where the stack
    listens: left to find the machine's address, the scheduler exits on a machine (or
    network namespace) with loopback alone."""
    sec = {"app-api-token": "a", "dapr-api-token": "d"}
    run, apps = stack.load_apps()
    procs = [stack.placement_proc(), stack.scheduler_proc(),
             *(a.sidecar_proc(sec, run) for a in apps)]
    assert {p.name: p.env.get("DAPR_HOST_IP") for p in procs} == {
        p.name: "127.0.0.1" for p in procs}
