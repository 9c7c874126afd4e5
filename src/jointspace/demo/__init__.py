"""``jointspace demo``: train a joint space from scratch offline and search it (see pipeline.py)."""

from jointspace.demo.config import RECIPE, DemoConfig, DemoQuery, default_queries
from jointspace.demo.pipeline import DemoResult, QueryResult, run_demo

__all__ = ["RECIPE", "DemoConfig", "DemoQuery", "DemoResult", "QueryResult", "default_queries",
           "run_demo"]
