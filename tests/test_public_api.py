import subprocess
import sys

import pytest

import jointspace


def test_public_names():
    assert sorted(jointspace.__all__) == ["Collection", "Hit", "IndexReport", "__version__",
                                          "load_embedder"]
    for name in jointspace.__all__:
        assert getattr(jointspace, name) is not None


@pytest.mark.parametrize("modules, heavy", [
    ("jointspace.cli", ("torch", "transformers", "faiss", "sentence_transformers")),
    ("jointspace.evaluate, jointspace.zeroshot, jointspace.cli.evaluate_cmds",
     ("torch", "transformers", "faiss", "matplotlib", "bm25s")),
])
def test_import_and_help_stay_light(modules, heavy):
    code = f"import sys, {modules}; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
