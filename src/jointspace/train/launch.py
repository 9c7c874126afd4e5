"""``jointspace train --nproc N [--nnodes M --rdzv-endpoint HOST:PORT]``: hand over to torchrun.

One machine: ``--nproc`` processes rendezvous on a free port of 127.0.0.1. Several machines: run
the same command on every node with ``--nnodes M --rdzv-endpoint HOST:PORT`` (HOST is one of the
nodes, reachable from all) and the same ``--rdzv-id``; torchrun's c10d rendezvous assigns ranks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from jointspace.errors import BadInputError, JointspaceError


@dataclass(frozen=True)
class Launch:
    """How many processes where; ``nnodes > 1`` needs ``rdzv_endpoint``."""

    nproc: int = 1  # processes on this node
    nnodes: int = 1  # nodes taking part
    rdzv_endpoint: str | None = None  # HOST:PORT of the c10d rendezvous (multi-node)
    rdzv_id: str = "jointspace"  # the same on every node of one job

    @property
    def distributed(self) -> bool:
        return self.nproc * self.nnodes > 1


def torchrun_command(launch: Launch, module_args: list[str],
                     module: str = "jointspace.train") -> list[str]:
    """The ``python -m torch.distributed.run ... -m module args`` command line for ``launch``."""
    if launch.nproc < 1 or launch.nnodes < 1:
        raise BadInputError("--nproc and --nnodes must be at least 1")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={launch.nproc}"]
    if launch.nnodes == 1 and launch.rdzv_endpoint is None:
        cmd += ["--nnodes=1", "--master-addr=127.0.0.1", f"--master-port={_free_port()}"]
    else:
        if not launch.rdzv_endpoint:
            raise BadInputError(f"--nnodes {launch.nnodes} needs a rendezvous point",
                                hint="add --rdzv-endpoint HOST:PORT (one node, reachable from "
                                     "all) and run the same command on every node")
        cmd += [f"--nnodes={launch.nnodes}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={launch.rdzv_endpoint}", f"--rdzv-id={launch.rdzv_id}"]
    return [*cmd, "-m", module, *module_args]


def run_torchrun(launch: Launch, train_args: list[str]) -> dict:
    """Train under torchrun; return the result rank 0 prints (its last JSON line), or ``{}`` on a
    node of a multi-node job that did not host rank 0."""
    cmd = torchrun_command(launch, train_args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and not lines and launch.nnodes > 1:
        return {}  # rank 0 ran on another node: the result is there
    if proc.returncode != 0 or not lines:
        raise JointspaceError(f"torchrun training failed (exit {proc.returncode})",
                              hint="see the messages above; rerun with --nproc 1 to debug")
    return json.loads(lines[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
