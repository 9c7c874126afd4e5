"""Everything above ``store/`` reaches storage only through the Store protocol and the registry."""

import ast
from pathlib import Path

import jointspace

PACKAGE = Path(jointspace.__file__).parent
# what modules outside store/ may import from it: the protocol, filters and the registry
ALLOWED = {"jointspace.store", "jointspace.store.base", "jointspace.store.filters",
           "jointspace.store.registry"}
FORBIDDEN_MODULES = {"sqlite3", "faiss", "qdrant_client", "qdrant_edge"}
FORBIDDEN_NAMES = {"LocalStore", "SqliteTruth", "QdrantStore", "VectorIndex"}
FORBIDDEN_ATTRS = {"truth"}  # the SQLite truth, on any object
STORE_ATTRS = {"conn", "client", "companion", "payloads"}  # backends' internals, on a store


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if node.module == "jointspace.store":
                names = [node.module]  # the package's public names...
            found += [f"{path.name}:{node.lineno} imports {a.name}"  # ...but not its backends
                      for a in node.names if a.name in FORBIDDEN_NAMES]
        for name in names:
            root = name.split(".")[0]
            if root in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{node.lineno} imports {name}")
            elif name.startswith("jointspace.store.") and not (
                    name in ALLOWED or name.rsplit(".", 1)[0] in ALLOWED):
                found.append(f"{path.name}:{node.lineno} imports {name}")
        if isinstance(node, ast.Attribute) and (
                node.attr in FORBIDDEN_ATTRS
                or node.attr in STORE_ATTRS and "store" in ast.unparse(node.value)):
            found.append(f"{path.name}:{node.lineno} touches {ast.unparse(node)}")
    return found


def test_nothing_outside_store_touches_storage_internals():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "store" in path.relative_to(PACKAGE).parts[:1]:
            continue
        bad += _violations(path)
    assert not bad, "storage reached around the Store protocol:\n" + "\n".join(bad)


def test_the_checker_catches_each_kind_of_violation(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("import sqlite3\nfrom jointspace.store.sqlite import SqliteTruth\n"
                 "from jointspace.store.local import LocalStore\n"
                 "from jointspace.store import LocalStore\n"
                 "def f(col):\n    s = col.store\n    return s.truth.seq()\n"
                 "def g(col):\n    return col.store.client.count('x')\n")
    found = _violations(f)
    assert {int(v.split(":")[1].split()[0]) for v in found} == {1, 2, 3, 4, 7, 9}, found
    f.write_text("from jointspace.store.base import Store\nfrom jointspace.store import Filter\n"
                 "def f(col, http):\n    return col.store.seq(), http.client, http.conn\n")
    assert _violations(f) == []


def test_collection_is_typed_to_the_protocol():
    import typing

    from jointspace.query import Collection
    from jointspace.store.base import Store

    hints = typing.get_type_hints(Collection.__init__)
    assert hints["store"] is Store
