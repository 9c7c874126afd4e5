"""ARCHITECTURE.md names the files that exist, and every module of the package is in it."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "src" / "jointspace"


def test_architecture_matches_the_package():
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    # module names, with or without their folder; files under tests/ or benchmarks/ are not modules
    named = {name for folder, name in re.findall(r"((?:[\w.-]+/)*)(\w+\.py)\b", doc)
             if not folder.startswith(("tests/", "benchmarks/"))}
    modules = {p.name for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    assert named - modules == set(), "ARCHITECTURE.md names files that do not exist"
    assert modules - named == set(), "modules missing from ARCHITECTURE.md"
    packages = {p.parent.name for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert {p for p in packages if f"{p}/" not in doc} == set(), "packages missing"
