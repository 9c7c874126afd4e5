import json

import pytest
import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register
from jointspace.train.config import TrainConfig
from jointspace.train.main import field_help, parse_config


def test_every_config_field_has_help_and_an_option():
    helps = field_help()
    fields = set(TrainConfig.__dataclass_fields__)
    assert set(helps) == fields
    cfg = parse_config(["--data", "d", "--out", "o", "--batch-size", "32", "--no-resume",
                        "--set", "cnn_widths=[8, 16]", "--set", "image_tower=vit"])
    assert cfg.batch_size == 32 and cfg.resume is False and cfg.steps is None
    assert cfg.recipe_overrides == {"cnn_widths": [8, 16], "image_tower": "vit"}
    with pytest.raises(SystemExit):
        parse_config(["--out", "o"])  # --data is required


def test_train_command_json(small_world, tiny_checkpoint, tmp_path):
    app = typer.Typer()
    register(app)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, [
        "train", "--data", str(small_world / "train" / "pairs.jsonl"), "--out", str(out),
        "--init", f"hf:{tiny_checkpoint}", "--lock", "text", "--batch-size", "16", "--steps", "3",
        "--arg=--threads=1", "--arg=--cache-dir=" + str(tmp_path / "cache"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["steps"] == 3 and data["model_dir"] == str(out / "model")
    assert (out / "model" / "config.json").is_file()
