"""The image's HEALTHCHECK: the service answers 200 on /health/ready (its sidecar and, if it
has one, its database are reachable). The port is APP_PORT, else the service's default."""

import os
import re
import sys
import urllib.request
from pathlib import Path


def port() -> int:
    if os.environ.get("APP_PORT"):
        return int(os.environ["APP_PORT"])
    main = Path(__file__).parent / "services" / os.environ["APP_ID"] / "__main__.py"
    found = re.search(r"serve\(\s*\"[^\"]+\",\s*(\d+)", main.read_text())
    if not found:
        sys.exit(f"no APP_PORT and no default port in {main}")
    return int(found.group(1))


try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port()}/health/ready", timeout=4) as r:  # noqa: S310
        sys.exit(0 if r.status == 200 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
    sys.exit(f"unhealthy: {exc}")
