"""Transductive zero-shot classification by label propagation (ZLaP).

Follows Stojnić, Kalantidis & Tolias, "Label Propagation for Zero-shot Classification with
Vision-Language Models" (CVPR 2024, github.com/vladan-stojnic/ZLaP). The graph has one node per
class (its text embedding) and one per image:

- each image links to its ``k`` nearest images and, *separately*, to its ``k`` nearest class
  texts: image-text cosines are much lower than image-image ones (the modality gap), so a single
  k-NN over all nodes would almost never pick a text node;
- negative similarities are clipped to 0 and image->text ones raised to the power ``gamma``,
  which keeps only a confident text link strong;
- the graph is symmetrised and normalised, ``W_n = D^-1/2 W D^-1/2``, and for each class ``c`` the
  system ``(I - alpha W_n) x = e_c`` is solved by conjugate gradient; ``x`` over the image nodes is
  that class's score. All classes are solved at once (one sparse product per iteration), and the
  graph is sparse: no dense n x n matrix is ever formed (k-NN runs in row blocks).

The inductive variant classifies a new image without re-solving: by symmetry of ``L``, the
solution for a new node's neighbour vector ``y`` restricted to the class nodes is ``y @ X`` where
``X`` (nodes x classes) is the transductive solution, so a stored ``X`` answers any new image
with one k-NN lookup (the paper's dual solution, kept exact rather than sparsified).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jointspace.errors import BadInputError

_CHUNK = 1024  # query rows per similarity block in knn()


@dataclass(frozen=True)
class PropagationSettings:
    """ZLaP's knobs; defaults grid-searched on a validation world (generated seed 1), see
    docs/quality/transductive.md. The paper's defaults are k=5, gamma=5, alpha=0.3."""

    k: int = 20  # image->image neighbours per image (and image->text, capped at n_classes)
    gamma: float = 2.0  # power on image->text similarities
    alpha: float = 0.3  # propagation strength in (0, 1): 0 keeps only the text links
    tol: float = 1e-6  # conjugate-gradient relative residual
    max_iter: int = 50  # conjugate-gradient iterations (ZLaP uses 50)

    def __post_init__(self) -> None:
        if self.k < 1 or not (0.0 < self.alpha < 1.0) or self.gamma <= 0 or self.max_iter < 1:
            raise BadInputError(
                f"bad propagation settings k={self.k}, alpha={self.alpha}, gamma={self.gamma}",
                hint="k >= 1, 0 < alpha < 1, gamma > 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Propagation:
    """The transductive solution: ``node_scores`` rows are classes first, then images."""

    node_scores: np.ndarray  # float32 (n_classes + n_images, n_classes)
    n_classes: int
    settings: PropagationSettings
    iterations: int

    @property
    def scores(self) -> np.ndarray:
        """Propagated class scores of the images, shape (n_images, n_classes)."""
        return self.node_scores[self.n_classes:]


def knn(base: np.ndarray, queries: np.ndarray, k: int,
        exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product k-NN: (ids, sims), each (n_queries, k), best first.

    Chunked BLAS products + argpartition: memory stays at ``_CHUNK x len(base)`` floats, never
    n x n. With ``exclude_self`` (queries are the base rows), each row's own index is dropped.
    """
    base = np.ascontiguousarray(base, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    want = min(k + int(exclude_self), len(base))
    ids = np.empty((len(queries), want), np.int64)
    sims = np.empty((len(queries), want), np.float32)
    for start in range(0, len(queries), _CHUNK):
        block = queries[start:start + _CHUNK] @ base.T  # (chunk, n_base)
        if exclude_self:  # push each row's own column below everything else
            rows = np.arange(len(block))
            block[rows, rows + start] = -np.inf
        top = (np.argpartition(-block, want - 1, axis=1)[:, :want] if want < block.shape[1]
               else np.tile(np.arange(block.shape[1]), (len(block), 1)))
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        ids[start:start + _CHUNK] = np.take_along_axis(top, order, axis=1)
        sims[start:start + _CHUNK] = np.take_along_axis(top_sims, order, axis=1)
    if exclude_self:
        ids, sims = ids[:, :-1], sims[:, :-1]  # the self column sorted last (-inf)
    return ids, sims


def neighbour_links(image_ids: np.ndarray, image_sims: np.ndarray, text_ids: np.ndarray,
                    text_sims: np.ndarray, n_classes: int,
                    gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Edge targets (node numbers: classes first) and weights of image nodes' links."""
    img_w = np.clip(image_sims, 0.0, None)
    txt_w = np.clip(text_sims, 0.0, None) ** gamma
    targets = np.concatenate([image_ids + n_classes, text_ids], axis=1)
    return targets, np.concatenate([img_w, txt_w], axis=1).astype(np.float64)


def build_graph(images: np.ndarray, classes: np.ndarray, settings: PropagationSettings):
    """The normalised symmetric adjacency ``W_n`` (scipy CSR) over class + image nodes."""
    import scipy.sparse as sp

    n, c = len(images), len(classes)
    im_ids, im_sims = knn(images, images, settings.k, exclude_self=True)
    tx_ids, tx_sims = knn(classes, images, min(settings.k, c))
    targets, weights = neighbour_links(im_ids, im_sims, tx_ids, tx_sims, c, settings.gamma)
    rows = np.repeat(np.arange(c, c + n), targets.shape[1])
    w = sp.csr_matrix((weights.ravel(), (rows, targets.ravel())), shape=(c + n, c + n))
    w = w + w.T
    w.setdiag(0)
    w.eliminate_zeros()
    degree = np.asarray(w.sum(axis=1)).ravel()
    degree[degree == 0] = 1.0
    d = sp.diags(1.0 / np.sqrt(degree))
    return (d @ w @ d).tocsr()


def block_cg(w_norm, alpha: float, rhs: np.ndarray, tol: float,
             max_iter: int) -> tuple[np.ndarray, int]:
    """Solve ``(I - alpha W_n) X = rhs`` column by column, all columns in each sparse product."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    p = r.copy()
    rs = np.einsum("ij,ij->j", r, r)
    stop = (tol * np.sqrt(np.einsum("ij,ij->j", rhs, rhs))) ** 2
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        ap = p - alpha * (w_norm @ p)
        pap = np.einsum("ij,ij->j", p, ap)
        step = np.divide(rs, pap, out=np.zeros_like(rs), where=pap > 0)
        x += step * p
        r -= step * ap
        rs_new = np.einsum("ij,ij->j", r, r)
        if np.all(rs_new <= stop):
            break
        p = r + np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0) * p
        rs = rs_new
    return x, it


def propagate(images: np.ndarray, classes: np.ndarray,
              settings: PropagationSettings | None = None) -> Propagation:
    """Label propagation from the class text nodes over the images' k-NN graph.

    ``images`` (n, d) and ``classes`` (n_classes, d) are unit vectors.
    """
    settings = settings or PropagationSettings()
    images = np.asarray(images, np.float32)
    classes = np.asarray(classes, np.float32)
    if images.ndim != 2 or classes.ndim != 2 or images.shape[1] != classes.shape[1]:
        raise BadInputError(f"images {images.shape} and classes {classes.shape} must be "
                            "(n, dim) arrays of the same dim")
    if len(images) < 2:
        raise BadInputError("transductive classification needs at least two images",
                            hint="classify a single image without --transductive")
    c = len(classes)
    w_norm = build_graph(images, classes, settings)
    rhs = np.zeros((w_norm.shape[0], c), np.float64)
    rhs[np.arange(c), np.arange(c)] = 1.0
    x, iterations = block_cg(w_norm, settings.alpha, rhs, settings.tol, settings.max_iter)
    return Propagation(x.astype(np.float32), c, settings, iterations)


def inductive_scores(prop: Propagation, graph_images: np.ndarray, classes: np.ndarray,
                     new_images: np.ndarray) -> np.ndarray:
    """Scores of images outside the graph from the stored solution (shape (m, n_classes))."""
    s = prop.settings
    im_ids, im_sims = knn(graph_images, new_images, s.k)
    tx_ids, tx_sims = knn(classes, new_images, min(s.k, prop.n_classes))
    return inductive_from_neighbours(prop, im_ids, im_sims, tx_ids, tx_sims)


def inductive_from_neighbours(prop: Propagation, image_ids: np.ndarray, image_sims: np.ndarray,
                              text_ids: np.ndarray, text_sims: np.ndarray) -> np.ndarray:
    """``y @ X`` for each new image's neighbour vector ``y`` (image rows index the graph)."""
    targets, weights = neighbour_links(image_ids, image_sims, text_ids, text_sims,
                                       prop.n_classes, prop.settings.gamma)
    gathered = prop.node_scores[targets]  # (m, links, n_classes)
    return np.einsum("ml,mlc->mc", weights, gathered).astype(np.float32)


def to_probabilities(scores: np.ndarray) -> np.ndarray:
    """Propagated scores as per-row shares of the positive mass (they are not cosines)."""
    pos = np.clip(np.asarray(scores, np.float64), 0.0, None)
    total = pos.sum(axis=1, keepdims=True)
    uniform = np.full_like(pos, 1.0 / max(pos.shape[1], 1))
    return np.where(total > 0, pos / np.where(total > 0, total, 1.0), uniform)
