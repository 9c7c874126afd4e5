"""Every command, every kind of user mistake: a usage message or a JSON error, never a traceback.

The command tree is walked from the Typer app itself, so a new command or option is covered
without editing this file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing

import pytest
import typer

from jointspace.cli import app
from jointspace.cli.render import run_app

NO_RESULT: set[str] = set()  # commands exempt from --json (none: serve prints its start-up)

@pytest.fixture(scope="module")
def tiny_hash_collection(tmp_path_factory, random_photos):
    """Three random images indexed with the hashing model (no texts: --hybrid has nothing)."""
    from jointspace.query import Collection

    root = tmp_path_factory.mktemp("hashcol")
    random_photos(root / "photos", 3)
    with Collection.create(root / "col", "hash:8") as col:
        col.add(root / "photos", workers=0)
    return root / "col"
  # runs a server until stopped: prints no result to render as JSON


def _leaves(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _leaves(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_leaves(typer.main.get_command(app)))


def _scalar(annotation):
    """int for ``int``, ``int | None`` and ``list[int]``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _scalar(args[0]) if args else annotation


def _bad_values(cmd):
    """(argv tail, why) pairs that must each be refused as a usage error."""
    yield ["--no-such-option"], "unknown option"
    for p in cmd.params:
        if not p.opts[0].startswith("-") or getattr(p, "is_flag", False):
            continue
        flag, kind = p.opts[0], _scalar(p.type_descriptor.annotation)
        if kind in (int, float):
            yield [flag, "abc"], f"{flag} not a number"
        if p.min is not None:
            yield [flag, str(p.min - 1)], f"{flag} below its minimum"
        if p.max is not None:
            yield [flag, str(p.max + 1)], f"{flag} above its maximum"
        if kind is float and (p.min is not None or p.max is not None):
            yield [flag, "nan"], f"{flag} nan"
            yield [flag, "inf"], f"{flag} inf"
    if any(p.required for p in cmd.params):
        yield [], "a required parameter missing"


CASES = [(path, argv, why) for path, cmd in COMMANDS for argv, why in _bad_values(cmd) if why]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        run_app(app, [str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_the_walk_covers_the_cli():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"index", "search", "remove", "serve", "token create", "evaluate zeroshot",
            "classify", "check", "train"} <= names
    assert len(CASES) > 60


@pytest.mark.parametrize("path,argv,why", CASES, ids=[f"{' '.join(c[0])}:{c[2]}" for c in CASES])
def test_usage_mistakes_exit_2_with_the_usage(path, argv, why, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a mistake might still write lands in the repo
    monkeypatch.delenv("JOINTSPACE_COLLECTION", raising=False)
    code, out, err = _run([*path, *argv], capsys)
    assert code == 2, (why, out, err)
    assert "Traceback" not in err and "Usage:" in err and "Error:" in err, err


@pytest.mark.parametrize("path,argv,why", [c for c in CASES if c[0][0] not in NO_RESULT],
                         ids=[f"{' '.join(c[0])}:{c[2]}" for c in CASES if c[0][0] not in NO_RESULT])
def test_usage_mistakes_with_json_print_an_error_object(path, argv, why, capsys, tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOINTSPACE_COLLECTION", raising=False)
    code, out, err = _run([*path, *argv, "--json"], capsys)
    assert code == 2 and "Traceback" not in err, err
    error = json.loads(out)["error"]
    assert set(error) == {"type", "message", "hint"} and error["message"], error


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_help_renders(path, capsys):
    run_app(app, [*path, "--help"])
    out, err = capsys.readouterr()
    assert "Usage:" in out and "--json" in out and "Traceback" not in err


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_that_prints_a_result_takes_json(path, cmd):
    if path[0] in NO_RESULT:
        return
    assert any("--json" in p.opts for p in cmd.params), f"{' '.join(path)} has no --json"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_bounded_number_is_bounded_on_both_sides(path, cmd):
    """A minimum alone lets inf through (int(inf) overflowed deep inside index)."""
    for p in cmd.params:
        if p.opts[0].startswith("-") and _scalar(p.type_descriptor.annotation) is float:
            assert (p.min is None) == (p.max is None), f"{' '.join(path)} {p.opts[0]}"


def test_help_texts_keep_their_brackets(capsys):
    run_app(app, ["evaluate", "zeroshot", "--help"])
    assert "{class: [sentences]}" in " ".join(capsys.readouterr().out.split())
    run_app(app, ["classify", "--help"])
    assert "metadata[FIELD]" in " ".join(capsys.readouterr().out.split())


JS = [sys.executable, "-m", "jointspace"]


@pytest.mark.parametrize("argv,code", [
    (["search", "x", "-c", "{col}", "--k", "0"], 2),
    (["search", "x", "-c", "{col}", "--k", "abc"], 2),
    (["search", "x", "-c", "{col}", "--offset", "-1"], 2),
    (["serve", "{col}", "--port", "99999"], 2),
    (["remove", "-c", "{col}", "--", "-5"], 2),
    (["search", "x"], 2),
    (["no-such-command"], 2),
    (["remove", "-c", "{col}", str(2**64)], 1),
    (["search", "-c", "{col}", "--like", str(2**64)], 1),
    (["search", "x", "-c", "{col}", "--hybrid"], 1),
    (["index", "{col}", "-c", "{tmp}/new", "--index", "bogus", "-m", "hash:8"], 1),
    (["index", "{col}", "-c", "{tmp}/a-file", "-m", "hash:8"], 1),
])
def test_the_issue_list_from_a_real_process(argv, code, tmp_path, tiny_hash_collection):
    (tmp_path / "a-file").write_text("x")
    args = [a.format(col=tiny_hash_collection, tmp=tmp_path) for a in argv]
    for extra in ([], ["--json"]):
        p = subprocess.run(JS + args[:1] + extra + args[1:], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "JOINTSPACE_COLLECTION": ""}, check=False)
        assert p.returncode == code and "Traceback" not in p.stderr, p.stderr
        if extra:
            assert json.loads(p.stdout)["error"]["message"]
        else:
            assert ("Usage:" if code == 2 else "error:") in p.stderr


def _app_raising(exc: BaseException) -> typer.Typer:
    bad = typer.Typer()

    @bad.command()
    def go(as_json: bool = typer.Option(False, "--json")) -> None:
        raise exc

    @bad.command()
    def other() -> None:
        pass

    return bad


def test_a_system_exit_with_a_message_exits_1_and_says_it(capsys):
    with pytest.raises(SystemExit) as exc:
        run_app(_app_raising(SystemExit("--set expects KEY=VALUE")), ["go", "--json"])
    assert exc.value.code == 1
    assert json.loads(capsys.readouterr().out)["error"]["message"] == "--set expects KEY=VALUE"


def test_demo_refuses_unknown_settings_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_app(app, ["demo", "--workdir", str(tmp_path / "d"), "--set", "bogus=1", "--json"])
    assert exc.value.code == 1 and "bogus" in json.loads(capsys.readouterr().out)["error"][
        "message"]
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("setting", ["epochs=-1", "ema=1.5", "batch_size=0"])
def test_demo_refuses_out_of_range_settings_before_any_work(tmp_path, capsys, setting):
    with pytest.raises(SystemExit) as exc:
        run_app(app, ["demo", "--workdir", str(tmp_path / "d"), "--set", setting, "--json"])
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert exc.value.code == 1 and setting.split("=")[0] in message and "must be" in message
    assert not (tmp_path / "d").exists()


def test_a_real_bug_shows_its_traceback_and_how_to_report_it(capsys):
    with pytest.raises(SystemExit) as exc:
        run_app(_app_raising(ZeroDivisionError("boom")), ["go"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "Traceback" in err and "ZeroDivisionError" in err
    assert "this is a bug" in err and "report it" in err
    with pytest.raises(SystemExit):
        run_app(_app_raising(ZeroDivisionError("boom")), ["go", "--json"])
    out = capsys.readouterr().out
    assert json.loads(out)["error"]["type"] == "InternalError"


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied", "/x/col"),
                                 IsADirectoryError(21, "Is a directory", "/x")])
def test_the_machine_saying_no_is_a_one_line_error(exc, capsys):
    with pytest.raises(SystemExit) as got:
        run_app(_app_raising(exc), ["go", "--json"])
    out, err = capsys.readouterr()
    assert got.value.code == 1 and "Traceback" not in err
    assert json.loads(out)["error"]["message"].startswith(exc.filename)


def test_token_create_json(tmp_path, capsys):
    run_app(app, ["token", "create", "-f", str(tmp_path / "tokens"), "--role", "admin", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["role"] == "admin" and out["token"].startswith("jst_")
    assert out["token"] not in (tmp_path / "tokens").read_text()


def test_an_unwritable_collection_path_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    """Root ignores chmod, so the file system's refusal is simulated where mkdir asks it."""
    import pathlib

    (tmp_path / "t.txt").write_text("hello")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    with pytest.raises(SystemExit) as exc:
        run_app(app, ["index", str(tmp_path / "t.txt"), "-c", str(tmp_path / "ro" / "col"),
                      "-m", "hash:8", "--json"])
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert exc.value.code == 1 and "Traceback" not in err
    assert error["type"] == "CollectionError" and "Permission denied" in error["message"]


def _cli_flags() -> set[str]:
    flags: set[str] = set()

    def walk(cmd) -> None:
        for p in getattr(cmd, "params", []):
            flags.update(o for o in [*p.opts, *getattr(p, "secondary_opts", [])]
                         if o.startswith("--"))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return flags | {"--help"}


def test_every_flag_a_hint_names_exists():
    """A hint pointing at an option the CLI does not have (evaluate zeroshot's --file-column was
    one) sends the user nowhere."""
    import ast
    import re
    from pathlib import Path

    import jointspace

    flags, wrong = _cli_flags(), []
    for path in Path(jointspace.__file__).parent.rglob("*.py"):
        if path.parts[-2] == "train":  # hints there name `python -m jointspace.train` options
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                text = " ".join(c.value for c in ast.walk(node.value)
                                if isinstance(c, ast.Constant) and isinstance(c.value, str))
                wrong += [f"{path.name}: {f}" for f in re.findall(r"(?<![\w-])--[a-z][\w-]*", text)
                          if f not in flags]
    assert not wrong, wrong


def test_manifest_options_on_a_folder_are_refused(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    with pytest.raises(SystemExit) as exc:
        run_app(app, ["index", str(tmp_path / "photos"), "-c", str(tmp_path / "col"), "-m",
                      "hash:8", "--text-column", "caption", "--json"])
    assert exc.value.code == 1 and "manifests only" in json.loads(capsys.readouterr().out)[
        "error"]["message"]
    assert not (tmp_path / "col").exists()


def test_user_data_prints_as_it_is(tmp_path, capsys):
    """Captions, metadata and paths are data, not rich markup: "[/oops]" crashed the table."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text,tag\n1,hello [/oops] world,[bold]x[/bold]\n")
    col = str(tmp_path / "col")
    run_app(app, ["index", str(manifest), "-c", col, "-m", "hash:8"])
    capsys.readouterr()
    run_app(app, ["search", "hello", "-c", col])
    out = " ".join(capsys.readouterr().out.split())
    assert "hello [/oops] world" in out and "tag=[bold]x[/bold]" in out
    with pytest.raises(SystemExit):
        run_app(app, ["search", "x", "-c", col, "-w", "tag = '[/x]' and"])
    assert "'[/x]'" in capsys.readouterr().err
