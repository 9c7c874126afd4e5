"""A generated corpus of hostile files, each with what ingest must make of it.

``build_hostile_corpus(root)`` writes the files under ``root/corpus`` (and a few targets outside it)
and returns ``{relative name: Expect}``. ``Expect.reason`` is a regex the per-file error must match;
``Expect.reference`` (for files that must work) is the RGB image an independent plain-Pillow decode
gives, to compare embeddings with. Everything is small on disk: the bombs are compressed zeros.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


@dataclass
class Expect:
    kind: str  # the class of hostility, for the report
    reason: str | None = None  # regex for the error; None = must embed
    reference: Callable[[], Image.Image] | None = None
    maybe_ok: bool = False  # e.g. unreadable permissions while running as root


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None,
            row_bytes: int | None = None) -> bytes:
    """A PNG with the given IHDR; IDAT = zlib of ``rows`` (or of all-zero rows, streamed)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if rows is None:  # a bomb: height rows of zeros, compressed without materialising them
        comp = zlib.compressobj(9)
        line = b"\0" * (1 + row_bytes)
        block = line * max(1, (1 << 20) // len(line))
        per_block = len(block) // len(line)
        parts, left = [], height
        while left > 0:
            n = min(left, per_block)
            parts.append(comp.compress(block[: n * len(line)]))
            left -= n
        idat = b"".join(parts) + comp.flush()
    else:
        idat = zlib.compress(rows)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def _picture(w: int = 40, h: int = 30, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pillow_reference(data: bytes) -> Callable[[], Image.Image]:
    """Plain Pillow: open, first frame, EXIF transpose, convert RGB (16-bit scaled by 1/257)."""
    def ref() -> Image.Image:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I;16"):
                arr = np.rint(np.asarray(im).astype(np.float64) / 257.0).astype(np.uint8)
                return Image.fromarray(arr).convert("RGB")
            return im.convert("RGB")
    return ref


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A tiny real JPEG whose SOF0 header is patched to claim width x height."""
    data = bytearray(_encode(_picture(16, 16), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _animated(fmt: str) -> bytes:
    frames = [_picture(32, 24, seed=s) for s in range(3)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)


def build_hostile_corpus(root: Path) -> dict[str, Expect]:
    """Write the corpus into ``root / "corpus"``; returns expectations by file name."""
    corpus = root / "corpus"
    outside = root / "outside"
    corpus.mkdir(parents=True)
    outside.mkdir()
    good_png = _encode(_picture(), "PNG")
    jpeg = _encode(_picture(64, 48, 1), "JPEG", quality=90)
    cmyk = _encode(_picture(40, 30, 2).convert("CMYK"), "JPEG")
    gray16 = _encode(Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16)),
                     "PNG")
    rgb48 = png_raw(8, 4, 16, 2, b"".join(b"\0" + os.urandom(8 * 6) for _ in range(4)))
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = _encode(_picture(40, 30, 3), "JPEG", exif=exif)
    bad_exif = jpeg[:2] + b"\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff" + jpeg[2:]
    files: dict[str, tuple[bytes, Expect]] = {
        # decompression bombs: tiny files, enormous pixel counts
        "bomb-72mp.png": (png_raw(9000, 8000, 8, 0, None, 9000),
                          Expect("decompression bomb", r"megapixel|bomb|limit")),
        "bomb-past-pillow-limit.png": (png_raw(20000, 20000, 1, 0, None, 2500),
                                       Expect("decompression bomb", r"megapixel|bomb|limit")),
        "huge-declared.png": (png_raw(100000, 100000, 8, 2, b"\0" * 10),
                              Expect("huge declared dimensions", r"megapixel|bomb|limit")),
        "huge-declared.jpg": (_jpeg_with_size(65000, 65000),
                              Expect("huge declared dimensions", r"megapixel|bomb|limit")),
        "zero-width.png": (png_raw(0, 16, 8, 2, b""), Expect("0xN image", r".")),
        "zero-height.png": (png_raw(16, 0, 8, 2, b""), Expect("0xN image", r".")),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], Expect("truncated", r"truncat|decode|broken")),
        "truncated.png": (good_png[: len(good_png) // 2],
                          Expect("truncated", r"truncat|decode|broken")),
        "header-only.png": (good_png[:33], Expect("truncated", r"truncat|decode|broken|image")),
        "empty.jpg": (b"", Expect("zero-byte", r"empty|0 bytes")),
        "empty.png": (b"", Expect("zero-byte", r"empty|0 bytes")),
        "text.jpg": (b"just some text, not an image\n" * 20, Expect("text named .jpg", "not an image")),
        "page.jpg": (b"<!DOCTYPE html><html><body><img src=x></body></html>",
                     Expect("html named .jpg", "not an image")),
        "script.png": (b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
                       Expect("svg named .png", "not an image")),
        "zip.jpg": (b"PK\x03\x04" + os.urandom(200), Expect("archive named .jpg", "not an image")),
        "random.gif": (b"GIF89a" + os.urandom(300), Expect("garbage with a magic number", r".")),
        # unusual but valid: must embed exactly like plain Pillow decodes them
        "cmyk.jpg": (cmyk, Expect("CMYK", reference=_pillow_reference(cmyk))),
        "gray16.png": (gray16, Expect("16-bit", reference=_pillow_reference(gray16))),
        "rgb48.png": (rgb48, Expect("16-bit", reference=_pillow_reference(rgb48))),
        "animated.gif": (_animated("GIF"), Expect("animated GIF")),
        "animated.webp": (_animated("WEBP"), Expect("animated WebP")),
        "exif-rotated.jpg": (rotated, Expect("EXIF orientation", reference=_pillow_reference(rotated))),
        "bad-exif.jpg": (bad_exif, Expect("corrupt EXIF")),
        "png-named.jpg": (good_png, Expect("wrong extension", reference=_pillow_reference(good_png))),
        "a" * 240 + ".png": (good_png, Expect("very long file name",
                                              reference=_pillow_reference(good_png))),
        "unreadable.png": (good_png, Expect("unreadable permissions", r"[Pp]ermission",
                                            maybe_ok=os.geteuid() == 0)),
    }
    for name in ("animated.gif", "animated.webp", "bad-exif.jpg"):
        data, exp = files[name]
        exp.reference = _pillow_reference(data)
    expect: dict[str, Expect] = {}
    for name, (data, exp) in files.items():
        (corpus / name).write_bytes(data)
        expect[name] = exp
    os.chmod(corpus / "unreadable.png", 0)
    # a non-UTF-8 file name (bytes path), holding a valid image
    odd = os.fsencode(str(corpus)) + b"/latin1-\xe9t\xe9-\xff.png"
    with open(odd, "wb") as f:
        f.write(good_png)
    expect[os.fsdecode(odd)[len(str(corpus)) + 1 :]] = Expect(  # issue 12: indexed, not refused
        "non-UTF-8 file name", reference=_pillow_reference(good_png))
    # links: a loop, a dangling link, links leaving the root, a FIFO, a sparse giant
    os.symlink("loop-b.jpg", corpus / "loop-a.jpg")
    os.symlink("loop-a.jpg", corpus / "loop-b.jpg")
    os.symlink("nowhere.png", corpus / "dangling.png")
    (outside / "secret.png").write_bytes(good_png)
    os.symlink(outside / "secret.png", corpus / "escape.png")
    os.symlink("/etc/passwd", corpus / "passwd.jpg")
    os.symlink("../outside", corpus / "escape-dir")
    os.mkfifo(corpus / "fifo.jpg")
    with open(corpus / "sparse-giant.jpg", "wb") as f:
        f.truncate(600 * 1024 * 1024)
    for name in ("loop-a.jpg", "loop-b.jpg", "dangling.png"):
        expect[name] = Expect("symlink loop / dangling", r"unresolvable|loop|exist")
    for name in ("escape.png", "passwd.jpg"):
        expect[name] = Expect("link outside the root", r"outside")
    expect["fifo.jpg"] = Expect("FIFO named .jpg", r"regular file")
    expect["sparse-giant.jpg"] = Expect("600 MB file", r"limit|bytes")
    return expect
