"""The model worker: concurrent text queries share model calls, results match direct embedding.

The model is held on its first call until the other queries are queued behind it (seen through
``worker.waiting``), so which calls are batched together is decided by events, not by timing.
"""

import threading
import time

import numpy as np
import pytest

from jointspace.models.hashing import HashEmbedder
from jointspace.serve.batching import BatchedEmbedder, ModelWorker


class Recording(HashEmbedder):
    """hash:16 recording each call's texts; its first call waits for ``release``."""

    def __init__(self):
        super().__init__(16)
        self.calls = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(30), "the test never released the model"
        if any(t == "boom" for t in texts):
            raise ValueError("boom")
        return super().embed_texts(texts)


def held_then_released(emb, worker, inner, first, rest):
    """Embed ``first`` (which holds the model), queue ``rest`` behind it, then release."""
    out, errors = {}, {}

    def run(text):
        try:
            out[text] = emb.embed_texts([text])
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors[text] = exc

    threads = [threading.Thread(target=run, args=(first,))]
    threads[0].start()
    assert inner.entered.wait(30)
    threads += [threading.Thread(target=run, args=(t,)) for t in rest]
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 30
    while worker.waiting < len(rest):  # every other query is queued behind the held call
        assert time.monotonic() < deadline, f"only {worker.waiting} of {len(rest)} queued"
        time.sleep(0.005)
    inner.release.set()
    for t in threads:
        t.join(30)
    worker.close()
    return out, errors


def test_waiting_queries_are_embedded_together():
    inner, worker = Recording(), ModelWorker(max_batch=64)
    texts = [f"query number {i}" for i in range(12)]
    out, errors = held_then_released(BatchedEmbedder(inner, worker), worker, inner, texts[0],
                                     texts[1:])
    assert errors == {}
    np.testing.assert_allclose(np.concatenate([out[t] for t in texts]),
                               HashEmbedder(16).embed_texts(texts), atol=1e-6)
    assert [len(c) for c in inner.calls] == [1, 11]  # the 11 waiting queries: one model call
    assert sorted(inner.calls[1]) == sorted(texts[1:])
    assert (worker.stats.calls, worker.stats.items, worker.stats.largest_batch) == (2, 12, 11)


def test_batch_size_is_capped():
    inner, worker = Recording(), ModelWorker(max_batch=3)
    held_then_released(BatchedEmbedder(inner, worker), worker, inner, "t0",
                       [f"t{i}" for i in range(1, 10)])
    assert [len(c) for c in inner.calls] == [1, 3, 3, 3]


def test_one_bad_input_does_not_fail_its_batch():
    inner, worker = Recording(), ModelWorker()
    rest = ["ok one", "boom", "ok two", "ok three"]
    out, errors = held_then_released(BatchedEmbedder(inner, worker), worker, inner, "ok zero",
                                     rest)
    assert list(errors) == ["boom"] and isinstance(errors["boom"], ValueError)
    for text in ("ok zero", "ok one", "ok two", "ok three"):
        np.testing.assert_allclose(out[text][0], HashEmbedder(16).embed_texts([text])[0],
                                   atol=1e-6)
    # the batch of four failed as a whole, then each was retried alone
    assert [len(c) for c in inner.calls] == [1, 4, 1, 1, 1, 1]


def test_images_and_plain_calls_run_on_the_worker():
    from PIL import Image

    worker = ModelWorker()
    emb = BatchedEmbedder(HashEmbedder(16), worker)
    im = Image.new("RGB", (20, 20), (200, 10, 10))
    np.testing.assert_allclose(emb.embed_images([im]), HashEmbedder(16).embed_images([im]),
                               atol=1e-6)
    assert worker.call(lambda: threading.current_thread().name) == "jointspace-model"
    assert emb.embed_texts([]).shape == (0, 16)
    worker.close()
    with pytest.raises(RuntimeError, match="stopped"):
        emb.embed_texts(["late"])
