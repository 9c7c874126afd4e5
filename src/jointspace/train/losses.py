"""Contrastive losses as pure functions of embeddings (no model needed to test them).

Both take L2-normalised ``image`` and ``text`` embeddings of the *global* batch, row i of each
being a pair, plus an optional boolean ``positives`` matrix marking extra true pairs (e.g. two
images in the batch sharing the same caption text), so those are not pushed apart. ``text`` may
hold more rows than ``image`` (then ``positives`` is (n_images, n_texts)): the extra texts are
extra image->text candidates only, e.g. cached caption vectors of images outside the batch.

- :func:`clip_loss` — symmetric softmax cross-entropy with a learnable temperature
  ``logit_scale`` (logits = exp(logit_scale) * cosine), as in CLIP.
- :func:`siglip_loss` — pairwise sigmoid loss with learnable ``logit_scale`` and ``logit_bias``,
  summed over all pairs and divided by the batch size, as in SigLIP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("clip", "siglip")


def logits(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
           logit_bias: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled similarities (n_images, n_texts)."""
    out = logit_scale.exp() * image @ text.T  # (n, n)
    return out + logit_bias if logit_bias is not None else out


def _targets(n: int, m: int, positives: torch.Tensor | None, device) -> torch.Tensor:
    eye = torch.eye(n, m, dtype=torch.bool, device=device)  # (n, m): row i's pair is text i
    return eye if positives is None else (positives.to(device) | eye)


def clip_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
              positives: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy; several positives share the target mass.

    Texts beyond the n images take part in image->text only (text->image has no image for them).
    """
    z = logits(image, text, logit_scale)  # (n, m), m >= n
    n = len(z)
    if positives is None and z.shape[1] == n:
        labels = torch.arange(n, device=z.device)
        return (F.cross_entropy(z, labels) + F.cross_entropy(z.T, labels)) / 2
    target = _targets(n, z.shape[1], positives, z.device).to(z.dtype)  # (n, m) 0/1
    rows = -(target / target.sum(1, keepdim=True) * F.log_softmax(z, dim=1)).sum(1).mean()
    zt, tt = z[:, :n].T, target[:, :n].T  # (n, n): the batch's own texts -> its images
    cols = -(tt / tt.sum(1, keepdim=True) * F.log_softmax(zt, dim=1)).sum(1).mean()
    return (rows + cols) / 2


def siglip_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_ij log sigmoid(sign_ij * z_ij) / n with sign +1 for pairs, -1 otherwise."""
    z = logits(image, text, logit_scale, logit_bias)  # (n, m)
    sign = _targets(*z.shape, positives, z.device).to(z.dtype) * 2 - 1  # (n, m) +-1
    return -F.logsigmoid(sign * z).sum() / len(z)


def contrastive_loss(kind: str, image: torch.Tensor, text: torch.Tensor,
                     logit_scale: torch.Tensor, logit_bias: torch.Tensor | None,
                     positives: torch.Tensor | None = None) -> torch.Tensor:
    """Dispatch on ``kind`` ("clip" or "siglip")."""
    if kind == "clip":
        return clip_loss(image, text, logit_scale, positives)
    if kind == "siglip":
        if logit_bias is None:
            raise ValueError("the siglip loss needs a logit_bias")
        return siglip_loss(image, text, logit_scale, logit_bias, positives)
    raise ValueError(f"unknown loss {kind!r}; use one of {LOSSES}")


def matryoshka_loss(kind: str, image: torch.Tensor, text: torch.Tensor,
                    logit_scale: torch.Tensor, logit_bias: torch.Tensor | None,
                    positives: torch.Tensor | None, dims: list[int]) -> torch.Tensor:
    """Mean of the loss at the full width and at each leading ``dims`` prefix (re-normalised)."""
    full = image.shape[1]
    widths = sorted({d for d in dims if 0 < d < full} | {full})
    total = image.new_zeros(())
    for d in widths:
        img = F.normalize(image[:, :d], dim=-1)  # (n, d)
        txt = F.normalize(text[:, :d], dim=-1)  # (n, d)
        total = total + contrastive_loss(kind, img, txt, logit_scale, logit_bias, positives)
    return total / len(widths)
