"""Copy the Dapr resources of components/ to their Kubernetes counterparts after a change:
k8s/dapr/ (namespaced) and the chart's files/components/ (byte for byte). The secret store
is not copied: on Kubernetes it is secretstores.kubernetes under the same name.
tests/deploy/test_drift.py fails until this has been run.

    python k8s/sync_components.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "ecommerce"


def main() -> None:
    for src in sorted((ROOT / "components").glob("*.yaml")):
        if src.stem == "secretstore":
            continue
        text = src.read_text()
        (ROOT / "k8s" / "helm" / "ecommerce" / "files" / "components" / src.name).write_text(text)
        lines = text.splitlines(keepends=True)
        head = [line for line in lines if line.startswith("#")]
        body = "".join(line for line in lines if not line.startswith("#"))
        body = re.sub(r"(metadata:\n  name: [a-z0-9-]+\n)", rf"\1  namespace: {NAMESPACE}\n",
                      body, count=1)
        note = (f"# Kubernetes copy of components/{src.name} "
                "(tests/deploy/test_drift.py keeps them equal).\n")
        kind_dir = "" if src.stem == "resiliency" else "components/"
        dest = ROOT / "k8s" / "dapr" / f"{kind_dir}{src.name}"
        dest.write_text("".join(head) + note + body)
        print(f"{src.relative_to(ROOT)} -> {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
