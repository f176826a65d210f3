"""The shape of the code: dependencies point one way, and the domain cores stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scheduler", "booking", "video")
# The composition root builds the app from every feature, so it alone may look downstream.
COMPOSITION_ROOT = {"scheduler/app.py", "scheduler/models.py"}
PURE = ("scheduler/availability", "scheduler/calendar")
IMPURE_PREFIXES = ("flask", "flask_", "sqlalchemy", "werkzeug", "scheduler.extensions", "scheduler.db")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(("package", "forbidden"), [("scheduler", ("booking", "video")), ("booking", ("video",))])
def test_dependencies_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = []
    for path in python_files(package):
        relative = path.relative_to(ROOT).as_posix()
        if relative in COMPOSITION_ROOT:
            continue
        for name in imports_of(path):
            if name.split(".")[0] in forbidden:
                offenders.append(f"{relative} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("folder", PURE)
def test_domain_cores_import_neither_flask_nor_the_database(folder: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in imports_of(path)
        if name.startswith(IMPURE_PREFIXES)
    ]
    assert offenders == []


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in python_files(package)
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []
