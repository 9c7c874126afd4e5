"""Curating a collection: finding exact and near-duplicate images."""

from jointspace.curate.duplicates import (
    DuplicateGroup,
    DuplicateReport,
    find_duplicates,
    group_duplicates,
    mark_duplicates,
)
from jointspace.curate.phash import hamming, phash

__all__ = [
    "DuplicateGroup",
    "DuplicateReport",
    "find_duplicates",
    "group_duplicates",
    "hamming",
    "mark_duplicates",
    "phash",
]
