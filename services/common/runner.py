"""Run a service under uvicorn: `python -m services.<name>`."""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable

import uvicorn
import uvloop
from litestar import Litestar

from services.common import settings as settings_mod

# glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> None:
    """Give large blocks back to the system as soon as they are freed.

    glibc raises its mmap threshold to the size of the largest block freed so far, so after
    the first argon2 hash (19 MiB) every later one is carved from the calling thread's arena
    and stays there: the users app held about 20 MiB per executor thread for good
    (bench/README.md, "Memory"). A fixed threshold keeps large blocks in mmap, and two
    arenas are enough for an event loop and a few worker threads.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    libc.mallopt(_M_ARENA_MAX, 2)


def serve(app_id: str, default_port: int,
          create_app: Callable[[settings_mod.Settings], Litestar]) -> None:
    settings = settings_mod.load(app_id, default_port)
    tune_malloc()
    # Every event loop of the process on uvloop, not only uvicorn's: the workflow runtime
    # runs the orders activities on a loop of its own (asyncio.new_event_loop()).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False, lifespan="on",
                loop="uvloop", http="httptools", timeout_graceful_shutdown=10,
                # The gateway alone decides whom to believe (services/gateway/clientaddr.py);
                # uvicorn's default would trust X-Forwarded-For from loopback.
                proxy_headers=False, timeout_keep_alive=KEEP_ALIVE_S)


# How long an idle keep-alive connection stays open. daprd keeps its idle connections to
# the app for 90 s (Go's default transport, cloned by its app channel); uvicorn's default
# of 5 s closed them first, and a request daprd sent on one at that moment failed with
# "read: connection reset by peer" (ERR_DIRECT_INVOKE 500): the storefront's rare 503s
# under load, named by web's log of the sidecar's answer. The client closing first ends it.
DAPR_APP_CHANNEL_IDLE_S = 90
KEEP_ALIVE_S = DAPR_APP_CHANNEL_IDLE_S + 15
