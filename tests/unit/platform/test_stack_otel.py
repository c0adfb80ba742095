from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import ROOT, stack


def test_otlp_endpoint_turns_on_sidecar_trace_export(tmp_path: Path) -> None:
    source = ROOT / "dapr" / "config" / "orders.yaml"
    out = stack.with_otel(source, "http://127.0.0.1:4318", out_dir=tmp_path)
    doc = yaml.safe_load(out.read_text())
    assert doc["spec"]["tracing"]["otel"] == {"endpointAddress": "127.0.0.1:4318",
                                              "isSecure": False, "protocol": "http"}
    assert doc["spec"]["tracing"]["samplingRate"] == "1"
    # everything else (secret scopes, name resolution) is the app's own configuration
    original = yaml.safe_load(source.read_text())
    assert doc["spec"]["secrets"] == original["spec"]["secrets"]
    assert doc["metadata"]["name"] == "orders"


def test_https_collector_is_secure(tmp_path: Path) -> None:
    out = stack.with_otel(ROOT / "dapr" / "config" / "users.yaml", "https://otel.example:4318",
                          out_dir=tmp_path)
    otel = yaml.safe_load(out.read_text())["spec"]["tracing"]["otel"]
    assert otel["isSecure"] is True
    assert otel["endpointAddress"] == "otel.example:4318"
