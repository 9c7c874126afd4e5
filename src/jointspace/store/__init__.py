"""Durable storage of items and vectors behind one ``Store`` protocol."""

from jointspace.store.base import Fingerprint, NewItem, Store, StoredItem, WriteBatch
from jointspace.store.filters import Filter, parse_filter
from jointspace.store.local import LocalStore

__all__ = ["Filter", "Fingerprint", "LocalStore", "NewItem", "Store", "StoredItem", "WriteBatch",
           "parse_filter"]
