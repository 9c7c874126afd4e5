"""Moving and sharing collections: copy between backends, export to and import from parquet.

Everything here goes through the Store protocol, so any backend pair works; nothing is
re-embedded.
"""

from jointspace.transfer.copy import CopyReport, copy_collection
from jointspace.transfer.export import export_parquet
from jointspace.transfer.vectors import ImportReport, import_vectors

__all__ = ["CopyReport", "ImportReport", "copy_collection", "export_parquet", "import_vectors"]
