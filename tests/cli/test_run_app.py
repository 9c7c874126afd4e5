import pytest
import typer

from jointspace.cli.render import run_app


def _app(code: int) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def go() -> None:
        raise typer.Exit(code)

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize("code", [0, 2])
def test_typer_exit_codes_reach_the_process(monkeypatch, code):
    monkeypatch.setattr("sys.argv", ["jointspace", "go"])
    if code == 0:
        run_app(_app(code))  # returns: the process exits 0
        return
    with pytest.raises(SystemExit) as exc:
        run_app(_app(code))
    assert exc.value.code == code
