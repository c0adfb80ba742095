"""The import arrows the layout promises (docs/architecture.md, "Map"), checked on the
source: services/common knows no service, no service imports another (what crosses a
boundary is in services/common/contracts), and inside a service the arrows point one way
(controllers -> service -> its jobs -> repository)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ROOT / "services"
APPS = sorted(p.name for p in SERVICES.iterdir()
              if p.is_dir() and p.name != "common" and (p / "__init__.py").exists())


def imports_of(path: Path) -> set[str]:
    """Every `services.*` module a file imports (`from a import b` counts as a.b too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("services.")}


def modules(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imports_of(p)
            for p in sorted((ROOT / package.replace(".", "/")).rglob("*.py"))}


def test_the_shared_package_knows_no_service() -> None:
    wrong = {f: sorted(m for m in imps if m.split(".")[1] != "common")
             for f, imps in modules("services.common").items()}
    assert not {f: m for f, m in wrong.items() if m}


@pytest.mark.parametrize("app", APPS)
def test_no_service_imports_another(app: str) -> None:
    wrong = {f: sorted(m for m in imps if m.split(".")[1] not in ("common", app))
             for f, imps in modules(f"services.{app}").items()}
    assert not {f: m for f, m in wrong.items() if m}


# Within a service: a module on the left never imports one on the right.
NEVER = [
    ("services.orders.checkout", ("services.orders.service", "services.orders.controllers")),
    ("services.orders.repository", ("services.orders.service", "services.orders.checkout",
                                    "services.orders.lifecycle", "services.orders.controllers")),
    ("services.orders.lifecycle", ("services.orders.service", "services.orders.checkout")),
    ("services.orders.pricing", ("services.orders.service", "services.orders.checkout")),
    ("services.orders.checkout.workflow", ("services.orders.checkout.activities",
                                           "services.orders.checkout.reconciler",
                                           "services.orders.checkout.runtime",
                                           "services.orders.repository")),
    ("services.notifications.repository", ("services.notifications.service",
                                           "services.notifications.delivery",
                                           "services.notifications.feed",
                                           "services.notifications.rendering")),
    ("services.notifications.rendering", ("services.notifications.repository",
                                          "services.notifications.service")),
]


@pytest.mark.parametrize(("source", "forbidden"), NEVER)
def test_imports_inside_a_service_point_one_way(source: str, forbidden: tuple[str, ...]) -> None:
    path = ROOT / source.replace(".", "/")
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert files and all(f.exists() for f in files)
    wrong = {str(f.relative_to(ROOT)): sorted(m for m in imports_of(f)
                                              if m.startswith(forbidden))
             for f in files}
    assert not {f: m for f, m in wrong.items() if m}
