"""The apps' HTTP server settings that the sidecar depends on."""

from __future__ import annotations

from services.common import runner


def test_the_app_keeps_idle_connections_longer_than_its_sidecar_does() -> None:
    # If the app closed an idle connection first, a request daprd sent on it at that moment
    # would fail with a reset (ERR_DIRECT_INVOKE 500), as the storefront's 503s did.
    assert runner.KEEP_ALIVE_S > runner.DAPR_APP_CHANNEL_IDLE_S >= 90
