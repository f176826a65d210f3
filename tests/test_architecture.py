"""The shape of the code: every module says what it is for; import rules are import-linter's (`make test`)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scheduler", "booking", "video")
# The composition root builds the app from every feature, so it alone may look downstream.
COMPOSITION_ROOT = "scheduler.app"


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_composition_root_is_the_only_exception_to_the_import_rules() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    ignored = [rule for contract in config["contracts"] for rule in contract.get("ignore_imports", [])]
    assert ignored, "the layers contract excepts the composition root"
    assert [rule for rule in ignored if rule.split(" -> ")[0] != COMPOSITION_ROOT] == []
    assert {contract["type"] for contract in config["contracts"]} >= {"layers", "forbidden", "protected",
                                                                       "acyclic_siblings"}


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in python_files(package)
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []
