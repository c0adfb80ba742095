"""The image's HEALTHCHECK: the service answers 200 on /health/ready (its sidecar and, if it
has one, its database are reachable). The port is APP_PORT, else the service's default."""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

SERVICES = Path(__file__).resolve().parent / "services"


def port(env: Mapping[str, str], services: Path = SERVICES) -> int:
    if env.get("APP_PORT"):
        return int(env["APP_PORT"])
    main = services / env["APP_ID"] / "__main__.py"
    found = re.search(r"serve\(\s*\"[^\"]+\",\s*(\d+)", main.read_text())
    if not found:
        raise SystemExit(f"no APP_PORT and no default port in {main}")
    return int(found.group(1))


def main() -> None:
    url = f"http://127.0.0.1:{port(os.environ)}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=4) as r:
            sys.exit(0 if r.status == 200 else 1)
    except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
        sys.exit(f"unhealthy: {exc}")


if __name__ == "__main__":
    main()
