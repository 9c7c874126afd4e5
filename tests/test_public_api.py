import subprocess
import sys

import jointspace


def test_public_names():
    assert sorted(jointspace.__all__) == ["Collection", "Hit", "IndexReport", "__version__",
                                          "load_embedder"]
    for name in jointspace.__all__:
        assert getattr(jointspace, name) is not None


def test_import_and_help_stay_light():
    code = ("import sys, jointspace.cli; "
            "heavy = [m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
