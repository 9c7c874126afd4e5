import dataclasses
import json

import pytest
import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register
from jointspace.errors import BadInputError
from jointspace.train.config import TrainConfig
from jointspace.train.options import (
    build_parser,
    config_argv,
    config_from_values,
    parse_config,
    train_options,
)


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_every_config_field_is_an_option_with_help_in_both_front_ends():
    options = train_options()
    assert [o.name for o in options] == [f.name for f in dataclasses.fields(TrainConfig)]
    assert all(o.help.strip() for o in options)
    argparse_help = build_parser().format_help()
    typer_help = CliRunner().invoke(_app(), ["train", "--help"], env={"COLUMNS": "300"}).output
    for o in options:
        assert o.flag in argparse_help and o.flag in typer_help, o.flag


def test_parse_config_and_back():
    cfg = parse_config(["--data", "d", "--out", "o", "--batch-size", "32", "--no-resume",
                        "--set", "cnn_widths=[8, 16]", "--set", "image_tower=vit",
                        "--matryoshka", "4,8", "--lr-scale", "vision=0.5", "--fast-text"])
    assert cfg.batch_size == 32 and cfg.resume is False and cfg.steps is None
    assert cfg.recipe_overrides == {"cnn_widths": [8, 16], "image_tower": "vit"}
    assert cfg.matryoshka == [4, 8] and cfg.lr_scales == {"vision": 0.5} and cfg.fast_text
    assert parse_config(config_argv(cfg)) == cfg  # what child processes receive
    with pytest.raises(SystemExit):
        parse_config(["--out", "o"])  # --data is required
    with pytest.raises(BadInputError):
        config_from_values({"data": "d", "out": "o", "matryoshka": "a,b"})


def test_train_command_json(small_world, tiny_checkpoint, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(_app(), [
        "train", "--data", str(small_world / "train" / "pairs.jsonl"), "--out", str(out),
        "--init", f"hf:{tiny_checkpoint}", "--lock", "text", "--batch-size", "16", "--steps", "3",
        "--threads", "1", "--cache-dir", str(tmp_path / "cache"), "--set", "unused=1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["steps"] == 3 and data["model_dir"] == str(out / "model")
    assert (out / "model" / "config.json").is_file() and (out / "report.html").is_file()


def test_the_python_api_checks_the_same_ranges_as_the_command_line(tmp_path):
    from jointspace.train import train
    from jointspace.train.config import out_of_range

    assert out_of_range({"epochs": 2.0, "ema": 0.99, "batch_size": 8, "steps": None}) is None
    assert out_of_range({"resume": False, "progress": True}) is None  # flags have no range
    assert "batch_size must be >= 1" in out_of_range({"batch_size": 0})
    assert "ema must be" in out_of_range({"ema": 1.5})
    out = tmp_path / "out"
    with pytest.raises(BadInputError, match="epochs must be"):
        train(TrainConfig(data=str(tmp_path / "pairs.jsonl"), out=str(out), epochs=-1))
    assert not out.exists()  # refused before any work
