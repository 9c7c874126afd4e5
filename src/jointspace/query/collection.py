"""``Collection``: the Python API the CLI and the service are thin skins over.

    col = Collection.create("photos.js", model="hf:/models/clip")   # or Collection.open(dir)
    col.add("~/Pictures")                                            # sync: add/update/remove
    hits = col.search("a dog on a beach", k=10, where="year>=2015")
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.engines.base import Engine
from jointspace.errors import BadInputError, NotFoundError
from jointspace.ingest.items import FileError
from jointspace.ingest.sources import FileListSource, TextsSource, open_source
from jointspace.models.base import Embedder
from jointspace.query.collection_quality import QualityMethods
from jointspace.query.compose import compose
from jointspace.query.derived import DerivedState
from jointspace.query.hit import Hit
from jointspace.query.indexing import IndexReport, ProgressFn, SyncOptions, sync_source
from jointspace.query.quality_search import QualityOptions, ranked_candidates
from jointspace.query.runtimes import record_runtimes, recorded_runtimes, runtime_for
from jointspace.store.base import Store, canonical_json
from jointspace.store.filters import Filter, parse_filter, with_kind
from jointspace.store.registry import StoreOptions, create_store, open_store

ImageInput = str | os.PathLike | bytes | Any  # a path, encoded bytes, or a PIL image
WhereInput = str | Sequence[str] | Mapping[str, Any] | Filter | None
MAX_QUERY_CHARS = 10_000
MAX_K = 10_000


class Collection(QualityMethods):
    """A searchable collection, stored wherever its location says (a directory, Qdrant...)."""

    def __init__(self, store: Store, embedder: Embedder | None = None,
                 runtime: str | None = None) -> None:
        self.store = store
        self._embedder = embedder
        self.runtime = runtime  # how to run the model when this collection loads it
        self._keywords = None  # the BM25 index, built on the first hybrid query
        self._derived = DerivedState(store)  # query banks, modality statistics, calibration
        self._mixed_at: tuple[int, bool] = (-1, False)  # (seq, holds images and texts)

    # --- lifecycle ----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, model: str | None = None, *,
               index: str | None = None,
               embedder: Embedder | None = None,
               options: StoreOptions | None = None,
               runtime: str | None = None) -> Collection:
        """Create (or open, if it exists with the same model) a collection for ``model``.

        ``path`` is a directory or a location such as ``qdrant://HOST:6333/NAME`` (see
        :mod:`jointspace.store.registry`); ``options`` carries backend settings (API key,
        shards, replicas). ``index`` (flat, hnsw, int8 or binary) overrides ``options.index``
        when given; ``options.index_dim``: index only the renormalised first dimensions
        (Matryoshka), the shortlist rescored with all of them.
        ``runtime`` (``auto``, ``torch``, ``bf16``, ``onnx``, ``onnx-int8``) says how the model
        runs; every runtime makes vectors of one space.
        """
        options = options or StoreOptions()
        if index is not None and index != options.index:  # checked before the model loads
            options = dataclasses.replace(options, index=index)
        if embedder is None:
            from jointspace.models import DEFAULT_IMAGE_MODEL, load_embedder

            embedder = load_embedder(model or DEFAULT_IMAGE_MODEL, runtime=runtime)
        store = create_store(os.fspath(path), embedder.name, embedder.dim, options)
        return cls(store, embedder, runtime)

    @classmethod
    def open(cls, path: str | os.PathLike, *, model: str | None = None, readonly: bool = False,
             embedder: Embedder | None = None, options: StoreOptions | None = None,
             runtime: str | None = None) -> Collection:
        """Open an existing collection; ``model``, if given, must be the one it was built with."""
        store = open_store(os.fspath(path), readonly=readonly, options=options)
        try:
            if model is not None:
                from jointspace.models import canonical_model_name

                store.check_model(canonical_model_name(model))
            if embedder is not None:
                store.check_model(embedder.name, embedder.dim)
        except BaseException:
            store.close()  # a refused open must not keep the collection (or its lock) open
            raise
        return cls(store, embedder, runtime)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path | None:
        """The local directory holding the collection; None when it lives on a server."""
        return self.store.directory

    @property
    def location(self) -> str:
        """What names the collection: its directory or URI (without credentials)."""
        return self.store.location

    @property
    def embedder(self) -> Embedder:
        """The collection's model, loaded on first use."""
        if self._embedder is None:
            from jointspace.models import load_embedder

            runtime = runtime_for(self.store, self.runtime)
            self._embedder = load_embedder(self.store.model, runtime=runtime)
            self.store.check_model(self._embedder.name, self._embedder.dim)
        return self._embedder

    def loaded_runtimes(self) -> dict[str, str]:
        """Tower -> runtime of the model as loaded in this process ({} if it was not needed)."""
        return dict(self._embedder.runtimes) if self._embedder is not None else {}

    # --- writing ------------------------------------------------------------------------
    def add(self, source: Any, *, batch_size: int = 64, workers: int | None = None,
            fast_decode: bool = False, max_pixels: int | None = None, prune: bool | None = None,
            prune_all: bool = False, progress: ProgressFn | None = None,
            lock_timeout: float = 0.0, engine: Engine | None = None,
            **source_options: Any) -> IndexReport:
        """Sync ``source`` (folder, manifest, file, list of files, or a Source) into the collection.

        New and changed files are embedded, unchanged ones skipped, and — for folders and
        manifests — files gone from the source removed, unless that would remove more than half
        of the source's items (an emptied manifest, an unmounted folder): then they are kept and
        the report warns, until ``prune_all=True``. Items removed with :meth:`remove` stay out
        while their file is unchanged. Bad files become error records.
        ``engine`` runs decode and embed (default: this process; ``engines.load_engine("ray")``
        for a Ray cluster); this process stays the single writer either way.
        """
        src = _as_source(source, source_options)
        opts = SyncOptions(batch_size=batch_size, workers=workers, max_pixels=max_pixels,
                           fast_decode=fast_decode, prune=prune, prune_all=prune_all)
        with self.store.writer(lock_timeout):
            report = sync_source(self.store, self.embedder, src, opts, progress, engine)
            if report.added or report.updated:
                record_runtimes(self.store, self.runtime, self.embedder.runtimes)
            self.store.save_index()
        if report.added or report.updated or report.removed:
            self.refresh_quality_state()
        return report

    def add_texts(self, texts: Sequence[str], *, ids: Sequence[str] | None = None,
                  metadata: Sequence[dict[str, Any]] | None = None,
                  source: str = "texts") -> IndexReport:
        """Add or update in-memory texts keyed by ``ids``.

        Without ids each text is keyed by its content (``text_ids``): re-adding a text changes
        nothing, a later call never replaces an earlier call's texts, and a text repeated within
        one call is one item (the first repeat's metadata is kept).
        """
        if ids is None:
            from jointspace.query.text_ids import text_ids

            TextsSource(texts, metadata=metadata)  # checks the lengths before picking repeats
            first: dict[str, int] = {}
            for n, text_id in enumerate(text_ids(self.store, texts, source)):
                first.setdefault(text_id, n)
            ids, keep = list(first), list(first.values())
            texts = [texts[n] for n in keep]
            metadata = [metadata[n] for n in keep] if metadata is not None else None
        return self.add(TextsSource(texts, ids=ids, metadata=metadata, id=source))

    def remove(self, ids: Sequence[int] = (), *, where: WhereInput = None,
               lock_timeout: float = 0.0) -> int:
        """Remove items by id and/or by filter; returns how many were removed.

        Re-indexing their folder or manifest leaves them out while their file is unchanged
        (indexing the file by name, or changing it, brings it back).
        """
        from jointspace.query import exclusions
        from jointspace.store.base import WriteBatch

        targets = set(item_ids(ids))
        flt = parse_filter(where)
        if where is not None and flt is None:  # "" would silently remove nothing
            raise BadInputError("the remove filter is empty", hint="e.g. --where 'label = cat'")
        if flt is not None:
            targets |= set(self.store.filter_ids(flt).tolist())
        existing = [it.id for it in self.store.get(sorted(targets))]
        with self.store.writer(lock_timeout):
            exclusions.record(self.store, existing)
            self.store.write(WriteBatch(deletes=existing))
            self.store.save_index()
        if existing:
            self.refresh_quality_state()
        return len(existing)

    def annotate(self, updates: Mapping[int, Mapping[str, Any]], *,
                 lock_timeout: float = 0.0) -> int:
        """Merge ``{item id: {field: value}}`` into items' annotations; returns items changed.

        Annotations show in ``metadata`` and filters like the source's metadata, override it, and
        survive re-indexing the source. A value of None removes the field.
        """
        from jointspace.store.base import WriteBatch

        for fields in updates.values():
            for name in fields:
                if not isinstance(name, str) or not name.isidentifier():
                    raise BadInputError(f"invalid annotation field {name!r}",
                                        hint="use letters, digits and _")
            try:
                canonical_json(dict(fields))
            except (TypeError, ValueError) as exc:  # NaN, objects: not storable as JSON
                raise BadInputError(f"annotation values must be JSON data ({exc})") from None
        existing = {it.id for it in self.store.get(item_ids(updates))}
        patches = [(int(i), dict(f)) for i, f in updates.items() if int(i) in existing]
        with self.store.writer(lock_timeout):
            self.store.write(WriteBatch(annotations=patches))
        return len(patches)

    # --- reading ------------------------------------------------------------------------
    def search(self, text: str | None = None, image: ImageInput | None = None,
               item_id: int | None = None, *, k: int = 20, offset: int = 0,
               where: WhereInput = None, kind: str | None = None,
               negative: str | Sequence[str] | None = None, text_weight: float = 1.0,
               image_weight: float = 1.0, negative_weight: float = 0.5,
               hybrid: bool | str = False, hubness: str | None = None,
               balance_modalities: bool | None = None,
               min_score: float | str | None = None) -> list[Hit]:
        """Nearest items to a text, an image, an item ("more like this"), or a mix of them.

        Several positives are combined as a weighted sum of unit vectors (a composed query);
        ``negative`` texts are subtracted. ``where`` filters on metadata exactly: with k matching
        items present, k are returned. Scores are cosine similarities, except with ``hybrid``
        (True, "convex" or "rrf"): BM25 over the items' text and string metadata is fused with
        the vector results and ``score`` is the fused score.

        The quality layer (docs/quality/): ``hubness`` ("qbnorm" or "csls") demotes items the
        collection's query bank retrieves for everything; ``balance_modalities`` (default: on
        when the collection holds images and texts) ranks each kind by its own score
        distribution; ``min_score`` (a cosine, or "auto" for the collection's calibrated cut-off)
        drops weak matches, so a query with no good match returns nothing. Scores stay cosines.
        """
        _check_k(k, offset)
        positives = []
        if text is not None:
            positives.append((self._embed_query_text(text), text_weight))
        if image is not None:
            positives.append((self._embed_query_image(image), image_weight))
        if item_id is not None:
            positives.append((self.vector(item_id), 1.0))
        negs = [negative] if isinstance(negative, str) else list(negative or [])
        negatives = [(self._embed_query_text(n), negative_weight) for n in negs]
        query = compose(positives, negatives)
        if hybrid:
            if text is None:
                raise BadInputError("hybrid search needs a text query (its keywords)")
            return self._hybrid(query, text, "convex" if hybrid is True else hybrid, k=k,
                                offset=offset, where=where, kind=kind, exclude=item_id)
        modality = "image" if text is None and image is not None else "text"
        if text is None and image is None and item_id is not None:
            modality = self.get(item_id).kind
        return self.search_vector(query, k=k, offset=offset, where=where, kind=kind,
                                  exclude=item_id, hubness=hubness, modality=modality,
                                  balance_modalities=balance_modalities, min_score=min_score)

    def search_vector(self, vector: np.ndarray, *, k: int = 20, offset: int = 0,
                      where: WhereInput = None, kind: str | None = None,
                      exclude: int | None = None, hubness: str | None = None,
                      modality: str = "text", balance_modalities: bool | None = None,
                      min_score: float | str | None = None) -> list[Hit]:
        """Nearest items to a unit query vector (``modality``: the kind of query it came from)."""
        _check_k(k, offset)
        vector = np.asarray(vector, np.float32)
        if vector.shape != (self.store.dim,) or not np.isfinite(vector).all():
            raise BadInputError(f"a query vector must be {self.store.dim} finite numbers "
                                f"(got shape {vector.shape})")
        flt = with_kind(parse_filter(where), kind)
        want = k + offset + (1 if exclude is not None else 0)
        opts = QualityOptions(hubness, balance_modalities, min_score)
        opts.check()
        if kind is not None:
            opts.balance = False  # one kind asked for: nothing to balance
        if hubness or min_score is not None or (opts.balance is not False and self._mixed()):
            calibration = (self.calibration() if min_score == "auto" else
                           self.stored_calibration() if modality == "text" else None)
            found = ranked_candidates(self.store, self._derived, vector, modality, want, flt,
                                      opts, calibration)
            found = [f for f in found if f[0] != exclude][offset : offset + k]
            return self._hits([(i, s) for i, s, _ in found], [r for _, _, r in found])
        pairs = self.store.search(vector[None, :], want, flt)[0]
        pairs = [(i, s) for i, s in pairs if i != exclude][offset : offset + k]
        hits = self._hits(pairs)
        if modality == "text":  # the cut-offs are fitted for text queries
            self._add_relevance(hits)
        return hits

    def _add_relevance(self, hits: list[Hit]) -> None:
        """Calibrated relevance on plain hits, when the collection has a calibration."""
        cal = self.stored_calibration()
        if cal is None or not hits:
            return
        relevance = cal.relevance(np.array([h.score for h in hits]),
                                  np.array([h.kind for h in hits]))
        for hit, rel in zip(hits, relevance, strict=True):
            hit.relevance = float(rel)

    def vector(self, item_id: int) -> np.ndarray:
        """The stored unit vector of an item."""
        vecs = self.store.vectors(_known_ids([item_id]))
        if len(vecs) == 0:
            raise NotFoundError(f"no item with id {item_id}")
        return vecs[0]

    def item_vectors(self, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids (int64, ascending) and unit vectors of every item, or of every ``kind`` item."""
        parts = list(self.store.scan_vectors(with_kind(None, kind)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self.store.dim), np.float32)
        return (np.concatenate([p[0] for p in parts]).astype(np.int64),
                np.concatenate([p[1] for p in parts]).astype(np.float32))

    def get(self, item_id: int) -> Hit:
        """An item as a Hit with score 1.0 (no query involved)."""
        hits = self._hits([(i, 1.0) for i in _known_ids([item_id])])
        if not hits:
            raise NotFoundError(f"no item with id {item_id}")
        return hits[0]

    def count(self) -> int:
        return self.store.count()

    def errors(self) -> list[FileError]:
        """Files that failed in the latest runs, with the reason."""
        return [FileError(path, reason) for path, reason in self.store.errors()]

    def info(self) -> dict[str, Any]:
        """Count, model, dim and the state of the collection."""
        import jointspace

        return self.store.info() | {"model": self.store.model, "dim": self.store.dim,
                                    "jointspace_version": jointspace.__version__,
                                    "runtimes": recorded_runtimes(self.store)}

    # --- helpers ------------------------------------------------------------------------
    def _hybrid(self, query: np.ndarray, text: str, method: str, *, k: int, offset: int,
                where: WhereInput, kind: str | None, exclude: int | None) -> list[Hit]:
        from jointspace.query.hybrid import TUNED, hybrid_fuse
        from jointspace.query.keywords import CollectionKeywords

        if method not in TUNED:
            raise BadInputError(f"unknown hybrid method {method!r}", hint="use convex or rrf")
        settings = TUNED[method]
        flt = with_kind(parse_filter(where), kind)
        depth = max(settings.depth, k + offset + 1)
        dense = self.store.search(query[None, :], depth, flt)[0]
        keyword = self.store.keyword_search(text, depth, flt)
        if keyword is None:  # the backend has no keyword index: keep one beside it
            if self._keywords is None:
                self._keywords = CollectionKeywords(self.store)
            if not self._keywords.index().has_words:
                raise BadInputError("hybrid search needs texts, and no item of this collection "
                                    "has text, a caption or string metadata",
                                    hint="search without --hybrid, or index a manifest with a "
                                         "--text-column")
            allowed = self.store.filter_ids(flt) if flt is not None else None
            keyword = self._keywords.search(text, depth, allowed)
        ids, scores = hybrid_fuse(([i for i, _ in dense], np.array([s for _, s in dense])),
                                  keyword, k + offset + 1, settings)
        pairs = [(int(i), float(s)) for i, s in zip(ids, scores) if i != exclude]
        return self._hits(pairs[offset : offset + k])

    def _hits(self, pairs: list[tuple[int, float]],
              relevance: Sequence[float | None] | None = None) -> list[Hit]:
        items = {it.id: it for it in self.store.get([i for i, _ in pairs])}
        rel = list(relevance) if relevance is not None else [None] * len(pairs)
        return [
            Hit(id=i, score=s, kind=items[i].kind, path=items[i].path, text=items[i].text,
                metadata=items[i].metadata, relevance=r)
            for (i, s), r in zip(pairs, rel, strict=True) if i in items
        ]

    def _mixed(self) -> bool:
        """Whether the collection holds images and texts (cached per seq: it is a table scan)."""
        seq = self.store.seq()
        if self._mixed_at[0] != seq:
            counts = self.store.info().get("kinds", {})
            self._mixed_at = (seq, counts.get("image", 0) > 0 and counts.get("text", 0) > 0)
        return self._mixed_at[1]

    def _embed_query_text(self, text: str) -> np.ndarray:
        if not isinstance(text, str) or not text.strip():
            raise BadInputError("empty text query", hint="type some words to search for")
        if len(text) > MAX_QUERY_CHARS:
            raise BadInputError(f"text query over {MAX_QUERY_CHARS} characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # tokenizers fail on lone surrogates with a TypeError
            raise BadInputError(f"text query is not valid Unicode ({exc.reason} at {exc.start})",
                                hint="send the query as UTF-8 text") from None
        return self.embedder.embed_texts([text])[0]

    def _embed_query_image(self, image: ImageInput) -> np.ndarray:
        from PIL import Image

        from jointspace.ingest.decode import load_image

        if not isinstance(image, Image.Image):
            image = load_image(image if isinstance(image, bytes) else Path(image))
        return self.embedder.embed_images([image])[0]


def _as_source(source: Any, options: dict[str, Any]):
    if hasattr(source, "scan"):
        return source
    if isinstance(source, (str, os.PathLike)):
        return open_source(source, **options)
    if isinstance(source, Sequence):
        return FileListSource([Path(p) for p in source])
    raise BadInputError(f"cannot index a {type(source).__name__}",
                        hint="pass a folder, a manifest, a file or a list of files")


MAX_ITEM_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY


def item_ids(ids: Any) -> list[int]:
    """``ids`` as ints, refusing what cannot be an item id (SQLite ids are 1..2^63-1)."""
    out = []
    for i in ids:
        try:
            n = int(i)
        except (TypeError, ValueError):
            raise BadInputError(f"item id {i!r} is not an integer") from None
        if not 1 <= n <= MAX_ITEM_ID:
            raise BadInputError(f"item id {n} is out of range",
                                hint="item ids are the integers 1..2^63-1 that search returns")
        out.append(n)
    return out


def _known_ids(ids: Any) -> list[int]:
    """``item_ids(ids)`` for a lookup: an id out of range is simply not there (NotFoundError)."""
    try:
        return item_ids(ids)
    except BadInputError:
        raise NotFoundError(f"no item with id {list(ids)[0]}",
                            hint="item ids are the integers 1..2^63-1 that search returns") from None


def _check_k(k: int, offset: int) -> None:
    if not (1 <= k <= MAX_K) or not (0 <= offset <= MAX_K):
        raise BadInputError(f"k must be 1..{MAX_K} and offset 0..{MAX_K} (got k={k}, "
                            f"offset={offset})")
