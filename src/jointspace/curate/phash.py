"""Perceptual hash (pHash): 64 bits from the low frequencies of an image's DCT.

The picture is reduced to 32x32 grey, its 2-D DCT taken, and each of the 8x8 lowest-frequency
coefficients compared with their median (as the ``imagehash`` package does). Resizing, re-encoding
and mild JPEG loss leave those coefficients' signs alone, so copies land a few bits apart while
unrelated pictures differ in about half of the 64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HASH_BITS = 64
_SIDE = 32
_LOW = 8


def phash(image) -> int:
    """The 64-bit perceptual hash of a PIL image (as a Python int)."""
    from PIL import Image
    from scipy.fft import dctn

    grey = image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    low = dctn(np.asarray(grey, np.float64), type=2, norm="ortho")[:_LOW, :_LOW]
    bits = (low > np.median(low)).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def phash_file(path: str | Path) -> int | None:
    """The hash of an image file, or None when it cannot be read."""
    from jointspace.errors import ImageDecodeError
    from jointspace.ingest.decode import load_image

    try:
        return phash(load_image(Path(path)))
    except (ImageDecodeError, OSError):  # a vanished or unreadable file has no hash to confirm
        return None


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()
