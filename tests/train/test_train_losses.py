import math

import numpy as np
import pytest
import torch

from jointspace.train.losses import clip_loss, contrastive_loss, siglip_loss


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive_clip(img, txt, scale, pos):
    n = len(img)
    z = math.exp(scale) * img @ txt.T
    total = 0.0
    for mat in (z, z.T):
        for i in range(n):
            lse = math.log(sum(math.exp(v) for v in mat[i]))
            targets = [j for j in range(n) if pos[i][j] or i == j] if mat is z else [
                j for j in range(n) if pos[j][i] or i == j]
            total += sum(-(mat[i][j] - lse) for j in targets) / len(targets) / n
    return total / 2


def _naive_siglip(img, txt, scale, bias, pos):
    n = len(img)
    total = 0.0
    for i in range(n):
        for j in range(n):
            zij = math.exp(scale) * float(img[i] @ txt[j]) + bias
            sign = 1.0 if (i == j or pos[i][j]) else -1.0
            total += -math.log(1 / (1 + math.exp(-sign * zij)))
    return total / n


@pytest.mark.parametrize("n,d", [(1, 4), (5, 8), (16, 3)])
def test_losses_match_naive_loops(n, d):
    rng = np.random.default_rng(n)
    img, txt = _unit(rng, n, d), _unit(rng, n, d)
    none = np.zeros((n, n), bool)
    pos = rng.random((n, n)) < 0.2
    def t(a):
        return torch.tensor(a, dtype=torch.float64)

    scale, bias = t(2.3), t(-4.0)
    assert clip_loss(t(img), t(txt), scale).item() == pytest.approx(
        _naive_clip(img, txt, 2.3, none), rel=1e-9)
    assert clip_loss(t(img), t(txt), scale, torch.tensor(pos)).item() == pytest.approx(
        _naive_clip(img, txt, 2.3, pos), rel=1e-9)
    assert siglip_loss(t(img), t(txt), scale, bias).item() == pytest.approx(
        _naive_siglip(img, txt, 2.3, -4.0, none), rel=1e-9)
    assert siglip_loss(t(img), t(txt), scale, bias, torch.tensor(pos)).item() == pytest.approx(
        _naive_siglip(img, txt, 2.3, -4.0, pos), rel=1e-9)


def test_identity_positives_equal_the_plain_path():
    rng = np.random.default_rng(0)
    img, txt = torch.tensor(_unit(rng, 6, 5)), torch.tensor(_unit(rng, 6, 5))
    eye = torch.eye(6, dtype=torch.bool)
    s = torch.tensor(1.0, dtype=torch.float64)
    assert torch.allclose(clip_loss(img, txt, s), clip_loss(img, txt, s, eye))


def test_aligned_pairs_score_lower_and_gradients_are_exact():
    rng = np.random.default_rng(1)
    img = torch.tensor(_unit(rng, 8, 6), requires_grad=True)
    txt_same = img.detach().clone()
    txt_rand = torch.tensor(_unit(rng, 8, 6))
    s, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(-3.0, dtype=torch.float64)
    assert clip_loss(img, txt_same, s) < clip_loss(img, txt_rand, s)
    assert siglip_loss(img, txt_same, s, b) < siglip_loss(img, txt_rand, s, b)
    scale = s.clone().requires_grad_()
    bias = b.clone().requires_grad_()
    torch.autograd.gradcheck(lambda i, sc: clip_loss(i, txt_rand, sc), (img, scale))
    torch.autograd.gradcheck(lambda i, sc, bi: siglip_loss(i, txt_rand, sc, bi), (img, scale, bias))


def test_dispatch_rejects_unknown_losses():
    x = torch.eye(3)
    s = torch.tensor(0.0)
    assert contrastive_loss("clip", x, x, s, None).item() == pytest.approx(
        clip_loss(x, x, s).item())
    with pytest.raises(ValueError):
        contrastive_loss("siglip", x, x, s, None)
    with pytest.raises(ValueError):
        contrastive_loss("triplet", x, x, s, None)


def test_matryoshka_loss_is_the_mean_over_renormalised_prefixes():
    from jointspace.train.losses import matryoshka_loss

    rng = np.random.default_rng(3)
    img, txt = _unit(rng, 6, 8), _unit(rng, 6, 8)
    pos = np.zeros((6, 6), bool)
    pos[0, 1] = pos[1, 0] = True
    want = np.mean([_naive_clip(img[:, :d] / np.linalg.norm(img[:, :d], axis=1, keepdims=True),
                                txt[:, :d] / np.linalg.norm(txt[:, :d], axis=1, keepdims=True),
                                1.5, pos) for d in (2, 4, 8)])
    got = matryoshka_loss("clip", torch.tensor(img), torch.tensor(txt),
                          torch.tensor(1.5, dtype=torch.float64), None, torch.tensor(pos),
                          [4, 2, 8, 99])  # the full width counts once; oversize dims ignored
    assert float(got) == pytest.approx(want, rel=1e-9)


def _naive_clip_extra(img, txt, scale, pos):
    """CLIP loss with texts beyond the images: they are image->text candidates only."""
    n, m = len(img), len(txt)
    z = math.exp(scale) * img @ txt.T  # (n, m)
    rows = cols = 0.0
    for i in range(n):
        lse = math.log(sum(math.exp(v) for v in z[i]))
        targets = [j for j in range(m) if pos[i][j] or i == j]
        rows += sum(-(z[i][j] - lse) for j in targets) / len(targets) / n
        lse_t = math.log(sum(math.exp(z[k][i]) for k in range(n)))  # text i -> the n images
        targets = [k for k in range(n) if pos[k][i] or k == i]
        cols += sum(-(z[k][i] - lse_t) for k in targets) / len(targets) / n
    return (rows + cols) / 2


@pytest.mark.parametrize("n,m", [(1, 3), (5, 9), (6, 6)])
def test_extra_texts_are_image_to_text_candidates_only(n, m):
    rng = np.random.default_rng(n + m)
    img, txt = _unit(rng, n, 4), _unit(rng, m, 4)
    pos = rng.random((n, m)) < 0.2
    def t(a):
        return torch.tensor(a, dtype=torch.float64)

    scale = t(1.7)
    for p in (np.zeros((n, m), bool), pos):
        assert clip_loss(t(img), t(txt), scale, torch.tensor(p)).item() == pytest.approx(
            _naive_clip_extra(img, txt, 1.7, p), rel=1e-9)
    if m > n:  # no positives mask: the extra texts are plain negatives
        assert clip_loss(t(img), t(txt), scale).item() == pytest.approx(
            _naive_clip_extra(img, txt, 1.7, np.zeros((n, m), bool)), rel=1e-9)
        # a hard extra text (a copy of image 0) raises the loss; marked positive it lowers it
        hard = np.concatenate([txt, img[:1]])
        marked = np.zeros((n, m + 1), bool)
        marked[0, m] = True
        base = clip_loss(t(img), t(txt), scale).item()
        assert clip_loss(t(img), t(hard), scale).item() > base
        assert clip_loss(t(img), t(hard), scale, torch.tensor(marked)).item() < clip_loss(
            t(img), t(hard), scale).item()
    sig = siglip_loss(t(img), t(txt), scale, t(-2.0), torch.tensor(pos)).item()
    naive = sum(-math.log(1 / (1 + math.exp(-(1.0 if (i == j or pos[i][j]) else -1.0) * (
        math.exp(1.7) * float(img[i] @ txt[j]) - 2.0)))) for i in range(n) for j in range(m)) / n
    assert sig == pytest.approx(naive, rel=1e-9)
