"""Labelled image datasets: an ImageFolder tree or a CSV / JSONL manifest with file and label.

- ``root/<class>/*.jpg`` — classes are the folder names, sorted;
- a ``.csv`` / ``.jsonl`` manifest (or a folder holding ``labels.csv`` / ``labels.jsonl``) with a
  file column (``file``, ``path``, ``image``, ...) and a ``label`` column; paths are relative to
  the manifest's folder.

Class order comes from a classes file when given (one class per line; if the labels are integers,
line ``i`` names class ``i``), otherwise labels sorted by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jointspace.errors import BadInputError
from jointspace.ingest.sources import IMAGE_EXTENSIONS, PATH_COLUMNS, read_manifest

MANIFEST_NAMES = ("labels.csv", "labels.jsonl")
LABEL_COLUMNS = ("label", "class", "category", "target")


@dataclass
class LabeledImages:
    """Image paths with integer targets into ``classes``."""

    name: str
    paths: list[Path]
    targets: np.ndarray  # int64, shape (n,)
    classes: list[str]
    hash: str  # sha256 over (relative path, size, label) of every sample

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, per_class: int | None, seed: int = 0) -> LabeledImages:
        """At most ``per_class`` samples of each class (seeded choice, original order kept)."""
        if per_class is None:
            return self
        rng = np.random.default_rng(seed)
        keep: list[int] = []
        for c in range(len(self.classes)):
            idx = np.flatnonzero(self.targets == c)
            if len(idx) > per_class:
                idx = np.sort(rng.choice(idx, size=per_class, replace=False))
            keep.extend(idx.tolist())
        keep.sort()
        return LabeledImages(
            name=f"{self.name}[{per_class}/class]",
            paths=[self.paths[i] for i in keep],
            targets=self.targets[keep],
            classes=self.classes,
            hash=self.hash,
        )


def load_labeled_images(
    path: str | Path,
    *,
    classes_file: str | Path | None = None,
    file_column: str | None = None,
    label_column: str | None = None,
) -> LabeledImages:
    """Open a labelled image dataset (see the module docstring)."""
    p = Path(path)
    manifest = next((p / n for n in MANIFEST_NAMES if (p / n).is_file()), None) if p.is_dir() else p
    if p.is_dir() and manifest is None:
        rel_paths, labels = _image_folder(p)
        base = p
    elif manifest is not None and manifest.is_file():
        rel_paths, labels = _manifest(manifest, file_column, label_column)
        base = manifest.parent
    else:
        raise BadInputError(
            f"no labelled images at {str(p)!r}",
            hint="pass an ImageFolder (root/<class>/*.jpg) or a .csv/.jsonl with file and label",
        )
    classes, targets = _classes(labels, classes_file)
    paths = [base / r for r in rel_paths]
    return LabeledImages(
        name=p.name, paths=paths, targets=targets, classes=classes,
        hash=_listing_hash(rel_paths, paths, labels),
    )


def _image_folder(root: Path) -> tuple[list[str], list[str]]:
    rel, labels = [], []
    for class_dir in sorted(d for d in root.iterdir() if d.is_dir()):
        for f in sorted(class_dir.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                rel.append(str(f.relative_to(root)))
                labels.append(class_dir.name)
    if not rel:
        raise BadInputError(
            f"{str(root)!r} holds no class folders with images",
            hint="lay images out as root/<class>/*.jpg, or pass a labels.csv",
        )
    return rel, labels


def _manifest(path: Path, file_col: str | None, label_col: str | None) -> tuple[list, list]:
    rows = read_manifest(path)
    if not rows:
        raise BadInputError(f"{str(path)!r} has no rows", hint="add file,label rows")
    for flag, name in (("--file-column", file_col), ("--label-column", label_col)):
        if name is not None and name not in rows[0]:
            raise BadInputError(f"{str(path)!r} has no column {name!r} ({flag}); its columns: "
                                f"{', '.join(rows[0])}", hint="check the spelling")
    file_col = file_col or next((c for c in PATH_COLUMNS if c in rows[0]), None)
    label_col = label_col or next((c for c in LABEL_COLUMNS if c in rows[0]), None)
    if file_col is None or label_col is None:
        raise BadInputError(
            f"{str(path)!r} needs a file column and a label column (has: {', '.join(rows[0])})",
            hint="name them with --file-column / --label-column",
        )
    rel, labels = [], []
    for i, row in enumerate(rows):
        if row.get(file_col) in (None, "") or row.get(label_col) in (None, ""):
            raise BadInputError(f"{str(path)!r} row {i + 1} lacks a file or a label")
        rel.append(str(row[file_col]))
        labels.append(str(row[label_col]))
    return rel, labels


def _classes(labels: list[str], classes_file: str | Path | None) -> tuple[list[str], np.ndarray]:
    if classes_file is None:
        classes = sorted(set(labels))
    else:
        lines = [ln.strip() for ln in Path(classes_file).read_text(encoding="utf-8").splitlines()]
        classes = [ln for ln in lines if ln]
        if all(lb.isdigit() for lb in labels):
            labels = [classes[int(lb)] if int(lb) < len(classes) else lb for lb in labels]
    index = {c: i for i, c in enumerate(classes)}
    missing = sorted(set(labels) - set(index))
    if missing:
        raise BadInputError(
            f"labels not in the classes file: {', '.join(missing[:5])}",
            hint="list every label in the classes file, one per line",
        )
    return classes, np.array([index[lb] for lb in labels], dtype=np.int64)


def _listing_hash(rel: list[str], paths: list[Path], labels: list[str]) -> str:
    h = hashlib.sha256()
    for r, p, lb in zip(rel, paths, labels, strict=True):
        size = p.stat().st_size if p.exists() else -1
        h.update(f"{r}\0{size}\0{lb}\n".encode())
    return h.hexdigest()
