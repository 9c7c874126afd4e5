"""Whether worker processes can be started from this program without re-running it.

Worker processes (forkserver, like spawn) import the main script again before they run anything.
A script without an ``if __name__ == "__main__":`` guard then runs its own top level a second
time in every worker — opening the collection, indexing again — and the workers die. That is
the README's example pasted into a file, so ingest checks for it and decodes in-process instead.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache

GUARD_HINT = ('put the script\'s code under `if __name__ == "__main__":` to decode in worker '
              "processes (or pass workers=0 to decode in this process without this warning)")


def unguarded_main_script() -> str | None:
    """The main script's path if workers would re-run it (it has no ``__main__`` guard)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return None  # interactive, notebooks, frozen apps: workers do not import __main__
    return None if _has_main_guard(str(path)) else str(path)


@lru_cache(maxsize=8)
def _has_main_guard(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True  # cannot tell: assume the usual, guarded case
    return any(isinstance(node, ast.If) and _is_main_test(node.test) for node in tree.body)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]
