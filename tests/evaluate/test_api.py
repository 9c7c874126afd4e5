import subprocess
import sys

import jointspace.evaluate
import jointspace.zeroshot


def test_public_names_resolve():
    for mod in (jointspace.evaluate, jointspace.zeroshot):
        for name in mod.__all__:
            assert getattr(mod, name) is not None, name


def test_importing_evaluation_stays_light():
    code = ("import sys, jointspace.evaluate, jointspace.zeroshot, jointspace.cli.evaluate_cmds; "
            "print([m for m in ('torch', 'transformers', 'faiss', 'matplotlib', 'bm25s') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
