"""Fine-tuning an hf: CLIP / SigLIP on user pairs, end to end through the CLI: the checkpoint
loads as hf:DIR, indexes a collection, answers searches and evaluates."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_finetuned_checkpoint_indexes_searches_and_evaluates(family, small_world, tmp_path,
                                                             request):
    from jointspace.evaluate import evaluate_retrieval
    from jointspace.evaluate.pairs import load_pairs
    from jointspace.query import Collection

    base = request.getfixturevalue(f"tiny_{family}_dir")
    app = typer.Typer()
    register(app)
    out = tmp_path / "ft"
    res = CliRunner().invoke(app, [
        "train", "--data", str(small_world / "train" / "pairs.jsonl"), "--out", str(out),
        "--init", f"hf:{base}", "--lock", "none", "--loss", family, "--batch-size", "16",
        "--steps", "6", "--val-every", "3", "--val-fraction", "0.1", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["best"]["step"] in (3, 6) and (out / "report.html").is_file()
    model = f"hf:{result['model_dir']}"

    with Collection.create(tmp_path / "col", model=model) as col:
        col.add(small_world / "test" / "pairs.jsonl")
        hits = col.search(text="a red circle", k=5)
        assert len(hits) == 5 and all(np.isfinite(h.score) for h in hits)
        report = evaluate_retrieval(load_pairs(small_world / "test" / "pairs.jsonl"),
                                    col.embedder)
    assert 0.0 <= report.metrics["t2i_R@1"] <= 1.0
    from jointspace.models import load_embedder

    tuned, before = (load_embedder(m, cache=False).embed_texts(["a red circle"])
                     for m in (model, f"hf:{base}"))
    assert not np.allclose(tuned, before)  # training moved the (unlocked) text tower
