"""The model worker: concurrent text queries share model calls, results match direct embedding."""

import threading
import time

import numpy as np
import pytest

from jointspace.models.hashing import HashEmbedder
from jointspace.serve.batching import BatchedEmbedder, ModelWorker


class Recording(HashEmbedder):
    """hash:16 that records each call's batch size and can be slowed down or made to fail."""

    def __init__(self, delay=0.0):
        super().__init__(16)
        self.delay = delay
        self.calls = []

    def embed_texts(self, texts):
        self.calls.append(len(texts))
        time.sleep(self.delay)
        if any(t == "boom" for t in texts):
            raise ValueError("boom")
        return super().embed_texts(texts)


def _concurrently(fn, args):
    out = [None] * len(args)
    errors = [None] * len(args)

    def run(i):
        try:
            out[i] = fn(args[i])
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, errors


def test_waiting_queries_are_embedded_together():
    inner = Recording(delay=0.05)
    worker = ModelWorker(max_batch=64)
    emb = BatchedEmbedder(inner, worker)
    texts = [f"query number {i}" for i in range(12)]
    out, errors = _concurrently(lambda t: emb.embed_texts([t]), texts)
    worker.close()
    assert errors == [None] * 12
    reference = HashEmbedder(16).embed_texts(texts)
    np.testing.assert_allclose(np.concatenate(out), reference, atol=1e-6)
    assert sum(inner.calls) == 12
    assert len(inner.calls) < 12 and max(inner.calls) > 1  # batched while the model was busy
    assert worker.stats.largest_batch == max(inner.calls)


def test_batch_size_is_capped():
    inner = Recording(delay=0.02)
    worker = ModelWorker(max_batch=3)
    emb = BatchedEmbedder(inner, worker)
    _concurrently(lambda t: emb.embed_texts([t]), [f"t{i}" for i in range(10)])
    worker.close()
    assert max(inner.calls) <= 3


def test_one_bad_input_does_not_fail_its_batch():
    inner = Recording(delay=0.05)
    worker = ModelWorker()
    emb = BatchedEmbedder(inner, worker)
    out, errors = _concurrently(lambda t: emb.embed_texts([t]), ["ok one", "boom", "ok two"] * 3)
    worker.close()
    for text, vec, err in zip(["ok one", "boom", "ok two"] * 3, out, errors):
        if text == "boom":
            assert isinstance(err, ValueError)
        else:
            assert err is None
            np.testing.assert_allclose(vec[0], HashEmbedder(16).embed_texts([text])[0], atol=1e-6)


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
