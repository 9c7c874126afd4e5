"""Embedding image files for an evaluation: decode, preprocess, embed in batches.

A file that fails to decode is reported (``FileError``) and left out, never aborts the run; but
when no file at all can be read the evaluation would measure nothing, so that is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jointspace.errors import BadInputError, ImageDecodeError
from jointspace.ingest.items import FileError
from jointspace.models.base import Embedder

Progress = Callable[[int, int], None]


def embed_image_files(
    embedder: Embedder,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, list[FileError]]:
    """Embed images; returns ``(vectors, ok_index, errors)``: ``vectors[i]`` is ``paths[ok[i]]``."""
    from jointspace.ingest.decode import load_image

    prep = embedder.image_preprocessor()
    chunks: list[np.ndarray] = []
    ok: list[int] = []
    errors: list[FileError] = []
    for start in range(0, len(paths), batch_size):
        arrays = []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                arrays.append(prep(load_image(Path(paths[i]))))
                ok.append(i)
            except (ImageDecodeError, OSError) as exc:
                errors.append(FileError(str(paths[i]), getattr(exc, "reason", str(exc))))
        if arrays:
            chunks.append(embedder.embed_preprocessed(np.stack(arrays)))
        if progress:
            progress(min(start + batch_size, len(paths)), len(paths))
    if paths and not ok:
        first = errors[0]
        raise BadInputError(
            f"none of the {len(paths)} images could be read (first: {first.path}: {first.reason})",
            hint="relative paths in a manifest resolve against the manifest's own folder (or "
                 "--image-root); check that the files exist there")
    vecs = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), np.float32)
    return vecs, np.asarray(ok, dtype=np.int64), errors
