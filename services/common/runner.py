"""Run a service under uvicorn: `python -m services.<name>`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn
import uvloop
from litestar import Litestar

from services.common import settings as settings_mod


def serve(app_id: str, default_port: int,
          create_app: Callable[[settings_mod.Settings], Litestar]) -> None:
    settings = settings_mod.load(app_id, default_port)
    # Every event loop of the process on uvloop, not only uvicorn's: the workflow runtime
    # runs the orders activities on a loop of its own (asyncio.new_event_loop()).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False, lifespan="on",
                loop="uvloop", http="httptools", timeout_graceful_shutdown=10,
                # The gateway alone decides whom to believe (services/gateway/clientaddr.py);
                # uvicorn's default would trust X-Forwarded-For from loopback.
                proxy_headers=False)
