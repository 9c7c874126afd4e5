"""The README example pasted into a script without a ``__main__`` guard: workers would re-run
the script, so ingest decodes in-process and says what to add; a guarded script uses workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from jointspace.ingest import mainguard

BODY = '''from jointspace import Collection

col = Collection.create("col.js", model="hash:16")
report = col.add("pics", workers=2)
print(json.dumps({"added": report.added, "failed": report.failed,
                  "errors": [e.reason for e in report.errors]}))
'''


def _run(tmp_path: Path, script: str) -> tuple[dict, str]:
    (tmp_path / "pics").mkdir(exist_ok=True)
    for i in range(3):
        Image.new("RGB", (20 + i, 20), (40 * i, 90, 10)).save(tmp_path / "pics" / f"{i}.png")
    (tmp_path / "script.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    p = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def test_unguarded_script_works_and_says_what_to_add(tmp_path):
    report, err = _run(tmp_path, "import json\n" + BODY)
    assert report == {"added": 3, "failed": 0, "errors": []}
    assert 'no `if __name__ == "__main__":` guard' in err and "script.py" in err


def test_guarded_script_decodes_in_workers_without_a_warning(tmp_path):
    guarded = "import json\n\nif __name__ == \"__main__\":\n" + "".join(
        f"    {line}\n" if line else "\n" for line in BODY.splitlines())
    report, err = _run(tmp_path, guarded)
    assert report == {"added": 3, "failed": 0, "errors": []}
    assert "guard" not in err


@pytest.mark.parametrize("source, guarded", [
    ('if __name__ == "__main__":\n    pass\n', True),
    ("if '__main__' == __name__:\n    main()\n", True),
    ("x = 1\nprint(x)\n", False),
    ('def f():\n    if __name__ == "__main__":\n        pass\n', False),  # not at top level
    ('if __name__ != "__main__":\n    pass\n', False),
])
def test_guard_detection(tmp_path, source, guarded):
    path = tmp_path / f"s{abs(hash(source))}.py"
    path.write_text(source)
    assert mainguard._has_main_guard(str(path)) is guarded
