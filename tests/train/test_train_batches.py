import numpy as np
import torch

from jointspace.train.batches import (
    batch_captions,
    batch_images,
    group_members,
    hard_batch,
    same_caption_mask,
    shift_images,
    shift_nhwc,
    shift_offsets,
)


def test_each_epoch_visits_every_image_once_then_reshuffles():
    n, b = 103, 10  # 10 steps per epoch, 3 images dropped each epoch
    epoch0 = np.concatenate([batch_images(s, n, b, seed=3) for s in range(10)])
    epoch1 = np.concatenate([batch_images(s, n, b, seed=3) for s in range(10, 20)])
    assert len(set(epoch0)) == 100 and len(set(epoch1)) == 100
    assert not np.array_equal(epoch0, epoch1)
    assert np.array_equal(batch_images(13, n, b, seed=3), batch_images(13, n, b, seed=3))
    assert not np.array_equal(batch_images(13, n, b, seed=3), batch_images(13, n, b, seed=4))


def test_captions_come_from_their_own_image_uniformly():
    start = np.array([0, 1, 4, 6])  # image 0: 1 caption, image 1: 3, image 2: 2
    picks = np.concatenate([batch_captions(s, np.array([0, 1, 2]), start, seed=0)
                            for s in range(3000)]).reshape(-1, 3)
    assert set(picks[:, 0]) == {0}
    assert set(picks[:, 1]) == {1, 2, 3} and set(picks[:, 2]) == {4, 5}
    freq = np.bincount(picks[:, 1], minlength=4)[1:] / len(picks)
    assert np.allclose(freq, 1 / 3, atol=0.04)


def test_shift_matches_a_per_pixel_reference():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(5, 3, 8, 9)), dtype=torch.float32)
    off = shift_offsets(7, 5, 2, seed=1)
    assert np.abs(off).max() <= 2
    got = shift_images(x, off).numpy()
    ref = np.empty_like(got)
    for i, (dy, dx) in enumerate(off):
        for r in range(8):
            for c in range(9):
                ref[i, :, r, c] = x[i, :, min(max(r - dy, 0), 7), min(max(c - dx, 0), 8)]
    np.testing.assert_array_equal(got, ref)
    assert np.array_equal(shift_images(x, np.zeros((5, 2), int)).numpy(), x.numpy())


def test_shift_of_chosen_rows_is_the_shift_of_their_copy():
    x = torch.randint(0, 255, (6, 8, 9, 3), dtype=torch.uint8)
    rows, off = np.array([4, 0, 4]), shift_offsets(3, 3, 2, seed=0)
    assert torch.equal(shift_nhwc(x, off, rows), shift_nhwc(x[rows], off))


def test_same_caption_mask():
    m = same_caption_mask(np.array([4, 1, 4, 2]))
    assert m.tolist() == [[True, False, True, False], [False, True, False, False],
                          [True, False, True, False], [False, False, False, True]]


def test_group_members_lists_each_groups_images():
    groups = np.array([2, 0, 2, 1, 0, 2])
    assert [m.tolist() for m in group_members(groups)] == [[1, 4], [3], [0, 2, 5]]


def test_hard_batch_fills_its_tail_from_one_group():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 10, size=2000)
    members = group_members(groups)
    seen_groups = set()
    for step in range(60):
        base = batch_images(step, 2000, 64, seed=5)
        got = hard_batch(step, base, members, 0.5, seed=5)
        assert len(got) == 64 and len(set(got.tolist())) == 64  # nothing repeats
        assert np.array_equal(got[:32], base[:32])  # the head is the regular batch
        tail_groups = set(groups[got[32:]].tolist())
        assert len(tail_groups) == 1  # the tail is one group
        seen_groups |= tail_groups
        assert np.array_equal(got, hard_batch(step, base, members, 0.5, seed=5))
    assert seen_groups == set(range(10))  # every group gets its turns
    base = batch_images(0, 2000, 64, seed=5)
    assert np.array_equal(hard_batch(0, base, members, 0.0, seed=5), base)


def test_hard_batch_with_a_small_group_tops_up_from_the_regular_tail():
    groups = np.zeros(100, np.int64)
    groups[[7, 8]] = 1  # group 1 has two images, group 0 the rest
    members = group_members(groups)
    base = np.arange(20, 40)
    small_drawn = 0
    for step in range(30):
        got = hard_batch(step, base, members, 0.5, seed=0)
        assert len(got) == 20 and len(set(got.tolist())) == 20
        assert np.array_equal(got[:10], base[:10])
        if set(got[10:].tolist()) & {7, 8}:  # group 1 drawn: both, then regular images
            assert {7, 8} <= set(got[10:].tolist())
            assert set(got[10:].tolist()) - {7, 8} <= set(base[10:].tolist())
            small_drawn += 1
    assert small_drawn > 0


def test_extra_images_and_the_rectangular_caption_mask():
    from jointspace.train.batches import extra_images

    a = extra_images(3, 50, 20, seed=1)
    assert a.shape == (20,) and a.min() >= 0 and a.max() < 50
    assert np.array_equal(a, extra_images(3, 50, 20, seed=1))
    assert not np.array_equal(a, extra_images(4, 50, 20, seed=1))
    m = same_caption_mask(np.array([4, 1]), np.array([4, 1, 7, 1, 4]))
    assert m.tolist() == [[True, False, False, False, True], [False, True, False, True, False]]

