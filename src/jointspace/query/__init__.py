"""Collections and searching them."""

from jointspace.query.collection import Collection
from jointspace.query.hit import Hit
from jointspace.query.indexing import IndexReport

__all__ = ["Collection", "Hit", "IndexReport"]
