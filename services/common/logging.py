"""JSON logs on stdout: one object per line with the app id, and the request id and trace id
while a request is handled (services.common.telemetry binds them).

Nothing secret reaches a line: values under secret-sounding keys are replaced, and anything
that looks like a JWT (three base64url parts starting `eyJ`) or a bearer credential is masked
wherever it appears, including inside messages and exception text.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = frozenset({"password", "token", "authorization", "access_token", "refresh_token",
                          "secret", "dsn"})
# Key fragments that mark a secret too: new_password, api_token, x-dapr-api-token, cookie ...
_SECRET_PARTS = ("password", "passwd", "token", "secret", "authorization", "cookie", "dsn",
                 "private_key", "api_key")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_MASK = "[redacted]"


def _mask(value: str) -> str:
    if "eyJ" in value:
        value = _JWT.sub(_MASK, value)
    if "earer" in value or "asic" in value:
        value = _BEARER.sub(rf"\1 {_MASK}", value)
    return value


def _redact(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        lower = key.lower()
        if lower in _SECRET_KEYS or any(p in lower for p in _SECRET_PARTS):
            event[key] = _MASK
        elif isinstance(value, str):
            event[key] = _mask(value)
        elif value is None and key in ("trace_id", "request_id"):
            del event[key]
    return event


def _redact_rendered(_: object, __: str,
                     event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """After format_exc_info: exception text may quote a token."""
    exc = event.get("exception")
    if isinstance(exc, str):
        event["exception"] = _mask(exc)
    return event


# One lock for both writers below, so lines stay whole when threads log at once (the workflow
# runtime logs from its own threads). Re-entrant: the stdlib handler takes it twice per line.
_WRITE_LOCK = threading.RLock()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is when a line is emitted (test capture swaps it)."""

    def createLock(self) -> None:  # noqa: N802 (the stdlib's name)
        self.lock = _WRITE_LOCK

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class _StdoutLogger:
    """The end of structlog's chain: one rendered line to whatever sys.stdout is, flushed.

    Lines of the app's own loggers come here directly instead of through the standard
    library's records, handler and formatter: under half the CPU per line."""

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            out = sys.stdout
            out.write(message + "\n")
            out.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stdout_logger(*_: Any) -> _StdoutLogger:
    return _StdoutLogger()


def configure(app_id: str, level: str = "INFO") -> None:
    """structlog and the standard library's loggers write the same JSON lines to stdout."""
    def add_app_id(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("app_id", app_id)  # also on lines from threads without the context
        return event

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_app_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    rendered: list[structlog.types.Processor] = [structlog.processors.format_exc_info,
                                                 _redact_rendered,
                                                 structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=[*shared, *rendered],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stdout_logger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(app_id=app_id)
    handler = _StdoutHandler()
    # Lines of other libraries' stdlib loggers (uvicorn, the workflow SDK) get the same shape.
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendered],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
