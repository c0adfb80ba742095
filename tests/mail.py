"""Reading what the local SMTP sink received (.local/mail/*.eml, one file per message, named
`<receive time in ns>-<id>.eml`) from tests."""

from __future__ import annotations

import email
import re
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIL = ROOT / ".local" / "mail"


def now_ns() -> int:
    """A lower bound for the names of messages received from now on (1 s of slack)."""
    return time.time_ns() - 1_000_000_000


def _received_ns(path: Path) -> int:
    try:
        return int(path.name.split("-", 1)[0])
    except ValueError:
        return 0


def messages(marker: str, since_ns: int = 0) -> list[EmailMessage]:
    """Every message received since `since_ns` whose raw bytes (headers included, e.g. the
    recipient) contain `marker`, oldest first."""
    found = []
    paths = sorted(p for p in MAIL.glob("*.eml") if _received_ns(p) >= since_ns)
    for path in paths:
        raw = path.read_bytes()
        if marker.encode() in raw:
            msg = email.message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            found.append(msg)
    return found


def wait_for_mail(marker: str, count: int = 1, timeout: float = 15.0,
                  since_ns: int = 0) -> list[EmailMessage]:
    """Wait until at least `count` messages containing `marker` arrived; return them all."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages(marker, since_ns)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} e-mails containing {marker!r} "
                                 "reached the SMTP sink")
        time.sleep(0.2)


def find_mail(marker: str, timeout: float = 15.0, since_ns: int = 0) -> EmailMessage:
    """The first message containing `marker` (waiting up to `timeout` seconds for it)."""
    return wait_for_mail(marker, 1, timeout, since_ns)[0]


def content(msg: EmailMessage) -> str:
    """The decoded body of a single-part message (the binding sends text/html only)."""
    body = msg.get_content()
    assert isinstance(body, str)
    return body


def link_tokens(recipient: str, page: str, since_ns: int, count: int = 1,
                timeout: float = 20.0) -> list[str]:
    """The tokens of every `/<page>?token=...` link e-mailed to `recipient` since `since_ns`,
    oldest first, once there are at least `count` (each e-mail shows its link twice: the
    button and the address, counted once)."""
    pattern = re.compile(rf"/{re.escape(page)}\?token=([A-Za-z0-9_-]+)")
    deadline = time.monotonic() + timeout
    while True:
        found = list(dict.fromkeys(t for m in messages(recipient, since_ns)
                                   for t in pattern.findall(content(m))))
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{len(found)} of {count} {page} links for {recipient}"
            return found
        time.sleep(0.2)
