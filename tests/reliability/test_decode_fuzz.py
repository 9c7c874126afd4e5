"""A short, bounded fuzz run of the image decoder: mutated bytes of valid images in many formats
either decode to an RGB image within the pixel cap or raise ImageDecodeError — nothing else,
and never slowly."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jointspace.errors import ImageDecodeError
from jointspace.ingest.decode import load_image

CAP = 4_000_000
MAX_SECONDS = 2.0


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    frames = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)]
    out = {}

    def save(name, img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out[name] = buf.getvalue()

    save("png", rgb, "PNG")
    save("png-p", rgb.quantize(16), "PNG", transparency=0)
    save("png-la", rgb.convert("LA"), "PNG")
    save("png-16", Image.fromarray((np.arange(768).reshape(24, 32) * 80).astype(np.uint16)), "PNG")
    save("jpeg", rgb, "JPEG", quality=80)
    save("jpeg-progressive", rgb, "JPEG", progressive=True)
    save("jpeg-cmyk", rgb.convert("CMYK"), "JPEG")
    save("gif", frames[0], "GIF", save_all=True, append_images=frames[1:])
    save("webp", rgb, "WEBP", quality=70)
    save("webp-lossless", rgb, "WEBP", lossless=True)
    save("webp-anim", frames[0], "WEBP", save_all=True, append_images=frames[1:])
    save("bmp", rgb, "BMP")
    save("tiff", rgb, "TIFF", compression="tiff_lzw")
    save("ico", rgb, "ICO")
    save("ppm", rgb, "PPM")
    return out


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "repeat", "header"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
        elif op == "header" and len(data) > 32:  # hit the size fields most formats keep early
            at = draw(st.integers(0, 31))
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _decode_or_refuse(data: bytes) -> str:
    start = time.perf_counter()
    try:
        img = load_image(data, max_pixels=CAP)
    except ImageDecodeError as exc:
        assert exc.reason
        outcome = "error"
    else:
        assert img.mode == "RGB" and img.width * img.height <= CAP and min(img.size) > 0
        np.asarray(img)  # really decoded
        outcome = "ok"
    assert time.perf_counter() - start < MAX_SECONDS, "decode too slow"
    return outcome


@pytest.mark.timeout(240)
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_images_decode_or_raise_image_decode_error(data):
    _decode_or_refuse(data)


@pytest.mark.timeout(120)
@settings(max_examples=400, deadline=None)
@given(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ",
                        b"BM", b"II*\0", b"MM\0*", b"\0\0\1\0", b"P6\n"]), st.binary(max_size=400))
def test_magic_number_plus_garbage(magic, tail):
    _decode_or_refuse(magic + tail)


def test_every_seed_decodes():
    assert {name: _decode_or_refuse(data) for name, data in SEEDS.items()} == dict.fromkeys(
        SEEDS, "ok")
