"""Evaluations: BEIR text retrieval (MTEB protocol), image-text retrieval, reports.

Zero-shot classification lives in :mod:`jointspace.zeroshot` and reports through
:class:`EvalReport` too.
"""

from jointspace.evaluate.beir import BeirDataset, load_beir
from jointspace.evaluate.beir_eval import evaluate_beir
from jointspace.evaluate.compare import compare_reports
from jointspace.evaluate.html import render_html, write_report
from jointspace.evaluate.pairs import ImageTextPairs, load_pairs
from jointspace.evaluate.ranking import evaluate_run
from jointspace.evaluate.report import EvalReport, load_report
from jointspace.evaluate.retrieval_eval import evaluate_retrieval
from jointspace.evaluate.screenshot import screenshot

__all__ = [
    "BeirDataset",
    "EvalReport",
    "ImageTextPairs",
    "compare_reports",
    "evaluate_beir",
    "evaluate_retrieval",
    "evaluate_run",
    "load_beir",
    "load_pairs",
    "load_report",
    "render_html",
    "screenshot",
    "write_report",
]
