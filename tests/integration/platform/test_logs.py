"""No secret in any log line written during this test run (marked to run after every other
test of the session, whatever the files are called).

Every log of the stack is in .local/logs/ (the apps, their daprd sidecars, PostgreSQL,
Redis, the SMTP sink). The module records how long each file was when the session was
collected, then reads only what this run appended: the admin password (from the secret
store file) and anything that looks like a JWT must not be there. It also checks the shape
of the gateway's lines: JSON with app_id, and request id and trace id on request lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.runs_last

LOGS = ROOT / ".local" / "logs"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# Collected before any test runs: the offset where this session's lines start.
START = {p.name: p.stat().st_size for p in LOGS.glob("*.log")} if LOGS.exists() else {}


def written_this_run() -> dict[str, str]:
    out = {}
    for path in sorted(LOGS.glob("*.log")):
        with path.open("rb") as fh:
            fh.seek(START.get(path.name, 0))
            out[path.name] = fh.read().decode("utf-8", "replace")
    return out


async def test_no_password_or_token_in_any_log(gateway: httpx.AsyncClient,
                                               secrets: dict[str, str],
                                               admin_headers: dict[str, str]) -> None:
    # Make sure this run used both: a login with the admin password, a call with a token
    # (the secret then went through the gateway, users and their sidecars).
    r = await gateway.get("/api/users/profile", headers=admin_headers)
    assert r.status_code == 200, r.text
    r = await gateway.post("/api/users/login", json={"email": secrets["admin-email"],
                                                     "password": secrets["admin-password"]})
    assert r.status_code == 200
    token = r.json()["token"]
    assert JWT.search(token)  # the pattern would catch a real token
    logs = written_this_run()
    assert logs.get("gateway.log"), "the gateway wrote nothing during this run"
    leaks = []
    for name, text in logs.items():
        for n, line in enumerate(text.splitlines(), 1):
            if secrets["admin-password"] in line or token in line or JWT.search(line):
                leaks.append(f"{name}:+{n}: {line[:300]}")
    assert not leaks, "\n".join(leaks[:20])


def test_gateway_lines_are_json_with_ids() -> None:
    text = written_this_run().get("gateway.log", "")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines
    requests = 0
    for line in lines:
        record = json.loads(line)
        assert record.get("app_id") == "gateway", line
        if record.get("event") == "request":
            requests += 1
            assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", record["request_id"]), line
            assert re.fullmatch(r"[0-9a-f]{32}", record["trace_id"]), line
    assert requests > 0


def _service_logs() -> list[Path]:
    return [LOGS / f"{app}.log" for app in ("users", "products", "orders", "payments",
                                            "inventory", "notifications")]


def test_service_request_lines_carry_app_and_request_ids() -> None:
    logs = written_this_run()
    seen = 0
    for path in _service_logs():
        for line in logs.get(path.name, "").splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("event") != "request":
                continue
            seen += 1
            assert record.get("app_id") == path.stem, line
            assert record.get("request_id"), line
    assert seen > 0
