"""The apps' malloc tuning: argon2's 19 MiB blocks go back to the system after each hash
instead of staying in every executor thread's arena (services/common/runner.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import asyncio, sys
import psutil
if sys.argv[1] == "tuned":
    from services.common.runner import tune_malloc
    tune_malloc()
from services.users.security.passwords import Passwords

async def main() -> None:
    passwords = Passwords()
    before = psutil.Process().memory_info().rss
    for _ in range(3):
        await asyncio.gather(*(passwords.hash("a password") for _ in range(8)))
    print((psutil.Process().memory_info().rss - before) // 2**20)

asyncio.run(main())
"""


def grown_mib(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_hashing_in_threads_gives_its_memory_back() -> None:
    # Untuned, glibc keeps one 19 MiB block per executor thread (about 60-120 MiB here).
    assert grown_mib("default") >= 40
    assert grown_mib("tuned") < 20
