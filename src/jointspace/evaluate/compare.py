"""Side-by-side view of several evaluation reports (models or settings)."""

from __future__ import annotations

from collections.abc import Sequence

from jointspace.evaluate.report import EvalReport

# The metrics worth a row by default, per task; others are shown with all_metrics=True.
HEADLINE = {
    "beir": ("ndcg@10", "mrr@10", "recall@100", "ndcg@100", "recall@10"),
    "zeroshot": ("top1", "top5", "mean_per_class_recall"),
    "retrieval": ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10",
                  "mean_recall"),
}


def compare_reports(reports: Sequence[EvalReport], *, all_metrics: bool = False) -> dict:
    """``{"columns": [...], "datasets": [...], "rows": [{"metric", "values", "best"}]}``.

    ``values`` has one entry per report (None where a report lacks the metric); ``best`` is the
    index of the highest value (metrics where lower is better, ranks, are marked by min).
    """
    names: list[str] = []
    for r in reports:
        wanted = r.metrics if all_metrics else HEADLINE.get(r.task, tuple(r.metrics))
        names += [m for m in wanted if m in r.metrics and m not in names]
    rows = []
    for m in names:
        values = [r.metrics.get(m) for r in reports]
        present = [(v, i) for i, v in enumerate(values) if v is not None]
        lower_better = "rank" in m
        best = (min(present) if lower_better else max(present))[1] if len(present) > 1 else None
        rows.append({"metric": m, "values": values, "best": best})
    return {
        "columns": _unique_labels(reports),
        "datasets": [f"{r.dataset} ({r.dataset_hash[:8]})" for r in reports],
        "rows": rows,
    }


def _unique_labels(reports: Sequence[EvalReport]) -> list[str]:
    labels = [r.label for r in reports]
    return [f"{lb} #{i + 1}" if labels.count(lb) > 1 else lb for i, lb in enumerate(labels)]
