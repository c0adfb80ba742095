"""What the stack's Redis holds, by key family: every key of every database, its id parts
(uuids, hashes, tokens, numbers) replaced by placeholders, grouped, with the number of keys,
the bytes they take (`MEMORY USAGE`), how many have no expiry, and each stream's length.

    .venv/bin/python bench/redis_keys.py [--json out.json]

A family whose count climbs with every order or shopper and has keys without expiry is state
that nothing bounds: the soak (bench/soak.py) records these figures each minute.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402

# Id parts of a key, most specific first: each becomes its placeholder.
_IDS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"(?<![0-9a-zA-Z])[0-9a-f]{32,64}(?![0-9a-zA-Z])"), "<hash>"),
    (re.compile(r"(?<![0-9A-Za-z_-])[A-Za-z0-9_-]{32,}(?![0-9A-Za-z_-])"), "<token>"),
    (re.compile(r"\d+(\.\d+){3}"), "<ip>"),
    (re.compile(r"\d+"), "<n>"),
]


# Coarse groups for the soak's samples and plot, first match wins: (group, test on the key).
GROUPS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("workflow state", lambda db, key: "||dapr.internal." in key),  # actors' state
    ("baskets", lambda db, key: key.startswith("basket||")),
    ("web sessions", lambda db, key: key.startswith("web||")),
    ("rate limits", lambda db, key: "ratelimit" in key),
    ("revocations", lambda db, key: "revoked|" in key),
    ("catalog cache", lambda db, key: db == "1"),
]


def group(db: str, key: str, kind: str) -> str:
    if kind == "stream":
        return "streams"
    return next((name for name, test in GROUPS if test(db, key)), "other")


def family(key: str) -> str:
    """`orders||dapr.internal.default.orders.workflow||<uuid>||history-<n>` and the like."""
    for pattern, placeholder in _IDS:
        key = pattern.sub(placeholder, key)
    return key


class Redis:
    """A minimal RESP client: the soak needs thousands of small commands a minute, pipelined,
    and redis-cli would cost a process per command."""

    def __init__(self, password: str, port: int = stack.REDIS_PORT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = self.sock.makefile("rb")
        self.pipeline([("AUTH", password)])

    def close(self) -> None:
        self.buf.close()
        self.sock.close()

    def __enter__(self) -> Redis:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def pipeline(self, commands: Sequence[Sequence[str | int]]) -> list[object]:
        out = bytearray()
        for cmd in commands:
            out += b"*%d\r\n" % len(cmd)
            for arg in cmd:
                data = str(arg).encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
        self.sock.sendall(out)
        return [self._reply() for _ in commands]

    def call(self, *cmd: str | int) -> object:
        return self.pipeline([cmd])[0]

    def _reply(self) -> object:
        line = self.buf.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply from Redis: {line!r}")

    def scan(self) -> Iterator[str]:
        cursor = "0"
        while True:
            reply = self.call("SCAN", cursor, "COUNT", 1000)
            assert isinstance(reply, list)
            cursor, keys = reply
            yield from keys
            if cursor == "0":
                return


def breakdown(password: str) -> dict[str, dict[str, int | str]]:
    """{"db<n> <family>": {group, keys, bytes, no_ttl, entries}} for every database with
    keys (`entries`: the summed length of its streams), largest first."""
    out: dict[str, dict[str, int | str]] = {}
    with Redis(password) as r:
        info = r.call("INFO", "keyspace")
        assert isinstance(info, str)
        for db in re.findall(r"^db(\d+):", info, re.M):
            r.call("SELECT", db)
            keys = list(r.scan())
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                replies = r.pipeline([c for k in chunk for c in (
                    ("MEMORY", "USAGE", k, "SAMPLES", "0"), ("PTTL", k), ("TYPE", k))])
                for j, key in enumerate(chunk):
                    size, ttl, kind = replies[3 * j:3 * j + 3]
                    row = out.setdefault(f"db{db} {family(key)}", {
                        "group": group(db, key, str(kind)), "keys": 0, "bytes": 0,
                        "no_ttl": 0, "entries": 0})
                    counts = {"keys": 1, "bytes": size if isinstance(size, int) else 0,
                              "no_ttl": int(ttl == -1), "entries": 0}
                    if kind == "stream":
                        length = r.call("XLEN", key)
                        counts["entries"] = length if isinstance(length, int) else 0
                    for name, n in counts.items():
                        row[name] = int(row[name]) + n
    return dict(sorted(out.items(), key=lambda kv: -int(kv[1]["bytes"])))


def by_group(rows: dict[str, dict[str, int | str]]) -> dict[str, dict[str, int]]:
    """The breakdown summed per group: {group: {keys, bytes, no_ttl, entries}}."""
    out: dict[str, dict[str, int]] = {}
    for row in rows.values():
        acc = out.setdefault(str(row["group"]), {"keys": 0, "bytes": 0, "no_ttl": 0,
                                                 "entries": 0})
        for name in acc:
            acc[name] += int(row[name])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    secrets = json.loads((stack.LOCAL / "secrets.json").read_text())
    rows = breakdown(secrets["redis-password"])
    with Redis(secrets["redis-password"]) as r:
        memory = r.call("INFO", "memory")
    assert isinstance(memory, str)
    used = int(re.search(r"used_memory:(\d+)", memory).group(1))  # type: ignore[union-attr]
    print(f"{'keys':>7} {'KiB':>9} {'no TTL':>7} {'entries':>8}  {'group':15} family")
    for name, v in rows.items():
        entries = str(v["entries"]) if v["entries"] else ""
        print(f"{v['keys']:7d} {int(v['bytes']) / 1024:9.1f} {v['no_ttl']:7d} {entries:>8}"
              f"  {v['group']:15} {name}")
    total = sum(int(v["bytes"]) for v in rows.values())
    print(f"{sum(int(v['keys']) for v in rows.values()):7d} {total / 1024:9.1f}"
          f"{'':17}  every key; used_memory {used / 2**20:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"used_memory": used, "families": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
