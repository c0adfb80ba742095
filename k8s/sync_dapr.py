"""Generate the compose and plain-manifest copies of the Dapr resources from their one
source after a change to components/ or dapr/config/:

- components/*.yaml -> k8s/dapr/ (namespaced); not the secret store, which is
  secretstores.kubernetes there under the same name;
- dapr/config/<app>.yaml -> k8s/dapr/config/ (without nameResolution), and its
  allowedSecrets -> the app's Role in k8s/services/<app>.yaml.

docker-compose.yml mounts dapr/config as it is.

The Helm chart has no copies: its files/components/ and files/config/ are links to the
source. tests/deploy/test_drift.py fails until this has been run:  python k8s/sync_dapr.py
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "ecommerce"


def write(dest: Path, text: str) -> None:
    if dest.is_symlink():  # a link to the source: writing through it would change the source
        raise SystemExit(f"{dest.relative_to(ROOT)} is a link; not writing through it")
    if not dest.exists() or dest.read_text() != text:
        dest.write_text(text)
        print(f"updated {dest.relative_to(ROOT)}")


def namespaced(body: str) -> str:
    return re.sub(r"(metadata:\n  name: [a-z0-9-]+\n)", rf"\1  namespace: {NAMESPACE}\n",
                  body, count=1)


def sync_components() -> None:
    for src in sorted((ROOT / "components").glob("*.yaml")):
        if src.stem == "secretstore":
            continue
        text = src.read_text()
        lines = text.splitlines(keepends=True)
        head = "".join(line for line in lines if line.startswith("#"))
        body = "".join(line for line in lines if not line.startswith("#"))
        note = (f"# Kubernetes copy of components/{src.name} "
                "(tests/deploy/test_drift.py keeps them equal).\n")
        kind_dir = "" if src.stem == "resiliency" else "components/"
        write(ROOT / "k8s" / "dapr" / f"{kind_dir}{src.name}", head + note + namespaced(body))


def without_name_resolution(body: str) -> str:
    return re.sub(r"^  nameResolution:\n(?:    .*\n)*", "", body, flags=re.M)


def sync_configurations() -> None:
    for src in sorted((ROOT / "dapr" / "config").glob("*.yaml")):
        app = src.stem
        lines = src.read_text().splitlines(keepends=True)
        body = without_name_resolution("".join(x for x in lines if not x.startswith("#")))
        k8s_head = (f"# Dapr Configuration of the {app} sidecar on Kubernetes (annotation "
                    f"dapr.io/config: {app}):\n# dapr/config/{app}.yaml without nameResolution "
                    "(Kubernetes DNS is the default).\n# tests/deploy/test_drift.py keeps the "
                    "rest identical.\n")
        write(ROOT / "k8s" / "dapr" / "config" / src.name, k8s_head + namespaced(body))
        allowed = yaml.safe_load(body)["spec"]["secrets"]["scopes"][0]["allowedSecrets"]
        service = ROOT / "k8s" / "services" / f"{app}.yaml"
        if service.exists():
            names = "".join(f"      - {s}\n" for s in allowed)
            write(service, re.sub(r"(    resourceNames:\n)(?:      - .*\n)+", rf"\g<1>{names}",
                                  service.read_text(), count=1))


if __name__ == "__main__":
    sync_components()
    sync_configurations()
