"""Run a service under uvicorn: `python -m services.<name>`."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from litestar import Litestar

from services.common import settings as settings_mod


def serve(app_id: str, default_port: int,
          create_app: Callable[[settings_mod.Settings], Litestar]) -> None:
    settings = settings_mod.load(app_id, default_port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False, lifespan="on",
                loop="uvloop", http="httptools", timeout_graceful_shutdown=10)
