"""The machine-readable result of every evaluation, and reading it back."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jointspace.errors import BadInputError

REPORT_FORMAT = 1


@dataclass
class EvalReport:
    """One evaluation: what was measured, on what, with what, and the numbers.

    ``metrics`` holds the headline numbers (flat name -> float, the ones ``compare`` tabulates);
    ``details`` holds task-specific tables (per class, per query, recall@K curves, examples).
    """

    task: str  # "zeroshot" | "retrieval" | "beir"
    model: str
    dataset: str
    dataset_hash: str
    settings: dict[str, Any]
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    jointspace_version: str = ""
    created: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    format: int = REPORT_FORMAT

    def __post_init__(self) -> None:
        if not self.jointspace_version:
            from jointspace import __version__

            self.jointspace_version = __version__
        if not self.created:
            self.created = datetime.now(UTC).isoformat(timespec="seconds")
        if not self.environment:
            self.environment = {"python": platform.python_version(), "machine": platform.machine()}

    @property
    def label(self) -> str:
        """A short name for tables: the model plus the setting that distinguishes runs."""
        extra = self.settings.get("retriever") or self.settings.get("templates")
        if extra == "hybrid" and isinstance(self.settings.get("hybrid"), dict):
            extra = f"hybrid {self.settings['hybrid'].get('method')}"
        return f"{self.model} [{extra}]" if extra else self.model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (parent folders are created)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
        return p


def load_report(path: str | Path) -> EvalReport:
    """Read a report written by :meth:`EvalReport.save`."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return EvalReport(**data)
    except FileNotFoundError:
        raise BadInputError(f"no report at {str(p)!r}", hint="pass a JSON file written by "
                            "`jointspace evaluate ... --out DIR`") from None
    except (ValueError, TypeError) as exc:
        raise BadInputError(
            f"{str(p)!r} is not a jointspace evaluation report: {exc}",
            hint="reports are the report.json files that `jointspace evaluate` writes",
        ) from None
