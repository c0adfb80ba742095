"""Write the Dapr secret store file of docker-compose.yml (secretstores.local.file).

Run once by the `secrets` service before any sidecar starts. Every environment variable
named like a Dapr secret (lower case words joined by '-', e.g. `redis-password`) becomes an
entry; a name ending in `-b64` is base64-decoded first and stored without the suffix (the JWT
signing key is a multi-line PEM, which an env file cannot hold on one line).

    python compose_secrets.py /dapr/.local/secrets.json
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path

SECRET_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
DAPRD_UID = 65532  # the distroless `nonroot` user of the daprd image (docker/daprd.Dockerfile)
WRITABLE = ("media", "dapr-nr")


def collect(env: dict[str, str]) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for name, value in env.items():
        if not SECRET_NAME.match(name):
            continue
        if not value:
            raise SystemExit(f"secret {name} is empty")
        if name.endswith("-b64"):
            secrets[name.removesuffix("-b64")] = base64.b64decode(value, validate=True).decode()
        else:
            secrets[name] = value
    return secrets


def main() -> None:
    target = Path(sys.argv[1])
    secrets = collect(dict(os.environ))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(secrets, indent=2, sort_keys=True))
    tmp.chmod(0o400)
    if os.geteuid() == 0:
        os.chown(tmp, DAPRD_UID, DAPRD_UID)
    tmp.replace(target)
    print(f"wrote {len(secrets)} secrets to {target}: {', '.join(sorted(secrets))}")
    # The volumes mounted below this folder are written by the sidecars, which run as the
    # daprd image's user: `media` (product pictures, components/media.yaml) and `dapr-nr`
    # (the name resolution database of dapr/config, shared by every sidecar).
    for name in WRITABLE:
        folder = target.parent / name
        if folder.is_dir() and os.geteuid() == 0:
            os.chown(folder, DAPRD_UID, DAPRD_UID)


if __name__ == "__main__":
    main()
