"""The CLI's OpenMP wait policy: passive for queries, the library default for training."""

import os
import subprocess
import sys

import pytest

_PROBE = """
import os, sys
from jointspace import runtime
runtime.configure_process()
print(os.environ.get("OMP_WAIT_POLICY"))
if sys.argv[1] == "batch":
    runtime.prefer_throughput()
print(os.environ.get("OMP_WAIT_POLICY"))
"""


def _probe(kind: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", _PROBE, kind], env={**clean, **env},
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return out.split()


@pytest.mark.parametrize(("kind", "env", "want"), [
    ("query", {}, ["PASSIVE", "PASSIVE"]),
    ("batch", {}, ["PASSIVE", "None"]),  # training gets libgomp's spin-then-sleep back
    ("batch", {"OMP_WAIT_POLICY": "ACTIVE"}, ["ACTIVE", "ACTIVE"]),  # the user's choice stays
    ("query", {"OMP_WAIT_POLICY": "ACTIVE"}, ["ACTIVE", "ACTIVE"]),
])
def test_wait_policy(kind, env, want):
    assert _probe(kind, **env) == want


@pytest.mark.parametrize("argv", [
    ["train", "--data", "/nonexistent.jsonl", "--out", "/nonexistent/out"],
    ["demo", "--set", "epochs=-1", "--workdir", "/nonexistent/out"],
])
def test_the_train_and_demo_commands_ask_for_throughput_before_torch_loads(argv):
    probe = """
import sys
seen = []
import jointspace.cli.world_train_cmds as cmds
cmds.prefer_throughput = lambda: seen.append("torch" in sys.modules)
from jointspace.cli import app
from jointspace.cli.render import run_app
try:
    run_app(app, sys.argv[1:])
except SystemExit:
    pass
print(seen)
"""
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe, *argv], env=clean,
                         capture_output=True, text=True, check=True, timeout=300).stdout
    assert out.strip().splitlines()[-1] == "[False]"  # called once, torch not yet imported
