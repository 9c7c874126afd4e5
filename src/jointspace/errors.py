"""Every error jointspace raises on purpose.

    JointspaceError                  root; .hint says what to do next, .http_status for the service
    ├── ModelUnavailableError        weights not found locally / offline / unknown backend (503)
    ├── BadInputError                a query, filter, manifest, upload or option is invalid (400)
    │   ├── FilterSyntaxError        a --where expression does not parse
    │   ├── ImageDecodeError         a file or upload is not a usable image (.path, .reason)
    │   │   └── ImageTooLargeError   over the pixel cap, or a decompression bomb (413)
    │   └── PayloadTooLargeError     an upload over the byte / pixel / file-count limits (413)
    ├── CollectionError              a collection directory problem
    │   ├── CollectionNotFoundError  no collection at that path (404)
    │   ├── ModelMismatchError       a different model or dim than the collection was built with (409)
    │   ├── CollectionLockedError    another process is writing (409)
    │   └── CorruptCollectionError   SQLite truth unreadable or inconsistent (500)
    └── NotFoundError                an item id that does not exist (404)

Per-file problems during ingest are *records* (``ingest.FileError``), not exceptions: a bad file
never aborts a batch.
"""

from __future__ import annotations


class JointspaceError(Exception):
    """Root of all jointspace errors. ``hint`` tells the user what to do next."""

    http_status = 500

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ModelUnavailableError(JointspaceError):
    http_status = 503


class BadInputError(JointspaceError):
    http_status = 400


class FilterSyntaxError(BadInputError):
    pass


class ImageDecodeError(BadInputError):
    def __init__(self, path: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"cannot use image {path!r}: {reason}", hint)
        self.path = path
        self.reason = reason


class ImageTooLargeError(ImageDecodeError):
    http_status = 413


class PayloadTooLargeError(BadInputError):
    http_status = 413


class CollectionError(JointspaceError):
    http_status = 500


class CollectionNotFoundError(CollectionError):
    http_status = 404


class ModelMismatchError(CollectionError):
    http_status = 409


class CollectionLockedError(CollectionError):
    http_status = 409


class CorruptCollectionError(CollectionError):
    http_status = 500


class NotFoundError(JointspaceError):
    http_status = 404
