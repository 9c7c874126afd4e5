"""Loading a BEIR-layout dataset exactly as MTEB does.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``),
``qrels/<split>.tsv`` (header, then ``query-id  corpus-id  score``).

MTEB's choices reproduced here:
- ids are strings; qrels scores are read as float then ``int()``-ed;
- only queries that appear in the split's qrels are evaluated;
- the dense model sees ``(title + " " + text).strip()`` for each document and the query text as is;
- MTEB's bm25s baseline indexes ``title + "\\n" + text`` (see :meth:`BeirDataset.keyword_texts`).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from jointspace.errors import BadInputError
from jointspace.ingest.sources import read_jsonl


@dataclass
class BeirDataset:
    """One split of a BEIR dataset, ready to evaluate."""

    name: str
    split: str
    corpus_ids: list[str]
    titles: list[str]
    texts: list[str]
    query_ids: list[str]  # only those with qrels in this split, in queries.jsonl order
    queries: list[str]
    qrels: dict[str, dict[str, int]]
    hash: str  # sha256 over corpus, queries and this split's qrels files
    missing_queries: int = 0  # qrels query ids absent from queries.jsonl (dropped)

    def dense_texts(self) -> list[str]:
        """Documents as MTEB's dense retrieval embeds them: ``(title + " " + text).strip()``."""
        return [(t + " " + x).strip() for t, x in zip(self.titles, self.texts, strict=True)]

    def keyword_texts(self) -> list[str]:
        """Documents as MTEB's bm25s baseline indexes them: ``title + "\\n" + text``."""
        return [t + "\n" + x for t, x in zip(self.titles, self.texts, strict=True)]


def load_beir(path: str | Path, split: str = "test", *, name: str | None = None) -> BeirDataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` under ``path``."""
    root = Path(path)
    corpus_file, queries_file = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_file = root / "qrels" / f"{split}.tsv"
    for f in (corpus_file, queries_file, qrels_file):
        if not f.is_file():
            available = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
            raise BadInputError(
                f"BEIR dataset {str(root)!r} has no {f.relative_to(root)}",
                hint=f"a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv; "
                f"splits here: {', '.join(available) or 'none'}",
            )
    qrels = _read_qrels(qrels_file)
    corpus_ids, titles, texts = [], [], []
    for row in _read_beir_jsonl(corpus_file):
        corpus_ids.append(str(row["_id"]))
        titles.append(str(row.get("title") or ""))
        texts.append(str(row.get("text") or ""))
    query_ids, queries = [], []
    for row in _read_beir_jsonl(queries_file):
        qid = str(row["_id"])
        if qid in qrels:
            query_ids.append(qid)
            queries.append(str(row.get("text") or ""))
    missing = len(set(qrels) - set(query_ids))
    qrels = {q: qrels[q] for q in query_ids}
    return BeirDataset(
        name=name or root.name,
        split=split,
        corpus_ids=corpus_ids,
        titles=titles,
        texts=texts,
        query_ids=query_ids,
        queries=queries,
        qrels=qrels,
        hash=files_hash([corpus_file, queries_file, qrels_file]),
        missing_queries=missing,
    )


def files_hash(files: list[Path]) -> str:
    """sha256 over the names and bytes of ``files`` (identifies a dataset version)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _read_beir_jsonl(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    for n, row in enumerate(rows, 1):
        if "_id" not in row:
            raise BadInputError(f"{path}: object {n} has no '_id'", hint="BEIR rows carry _id")
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None:
            raise BadInputError(f"{path} is empty", hint="qrels need query-id, corpus-id, score")
        for lineno, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) < 3:
                raise BadInputError(
                    f"{path}:{lineno}: expected 3 tab-separated columns, got {len(row)}",
                    hint="qrels lines are: query-id<TAB>corpus-id<TAB>score",
                )
            qid, did, score = row[0], row[1], row[2]
            qrels.setdefault(qid, {})[did] = int(float(score))
    return qrels
