"""Hardened image decoding: any file Pillow reads -> one RGB ``PIL.Image``, or ImageDecodeError.

What ``load_image`` does, in order:
1. Rejects empty input, then opens the file, which reads only the header.
2. Checks width x height against ``max_pixels`` *before* decoding, so a decompression bomb never
   allocates; Pillow's own DecompressionBombWarning is turned into an error too.
3. Takes the first frame of animations / multi-page files.
4. Optionally (``fast=True`` or ``draft_size=``) asks libjpeg for a DCT-scaled decode of large JPEGs
   (1/2, 1/4 or 1/8 size) that still keeps the shorter side >= the requested size.
5. Decodes, applies the EXIF orientation (``ImageOps.exif_transpose``), scales 16-bit / 32-bit
   grayscale to 8 bit (Pillow's own conversion clips them), then ``.convert("RGB")``.

Alpha and palette images go through plain ``convert("RGB")`` (alpha is dropped, not composited on
white): that is what the usual transformers / open_clip reference pipeline does
(``Image.open -> exif_transpose -> convert("RGB")``), so embeddings match it exactly.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jointspace.errors import ImageDecodeError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: a 9000x7000 photo; Pillow's own limit is ~89 MP
DEFAULT_DRAFT_SIZE = 448  # fast=True keeps the shorter side >= this (2x a 224-px model input)
ImageSource = str | os.PathLike | bytes

_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, without decoding pixels."""

    format: str | None  # "JPEG", "PNG", ...
    mode: str  # Pillow mode as stored: "RGB", "P", "CMYK", "I;16", ...
    width: int  # as stored (before EXIF rotation)
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe_image(src: ImageSource, *, name: str | None = None) -> ImageInfo:
    """Read only the header of an image; ImageDecodeError if it is not a readable image."""
    label = _label(src, name)
    with _open(src, label) as im:
        return ImageInfo(im.format, im.mode, im.width, im.height)


def load_image(
    src: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast: bool = False,
    draft_size: int | None = None,
    name: str | None = None,
) -> Image.Image:
    """Decode ``src`` (a path or the file's bytes) to an RGB image; see the module docstring.

    ``fast`` / ``draft_size``: opt-in reduced JPEG decode keeping the shorter side >= ``draft_size``
    (``DEFAULT_DRAFT_SIZE`` when only ``fast`` is set); pass the model's input size. ``name`` is
    used in error messages when ``src`` is bytes.
    """
    label = _label(src, name)
    with _open(src, label, max_pixels) as im:
        _check_size(im.width, im.height, label, max_pixels)
        target = draft_size or (DEFAULT_DRAFT_SIZE if fast else None)
        if target and im.format == "JPEG":
            im.draft(None, _draft_request(im.size, target))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                # Palette-with-transparency conversion warns; the behaviour is documented above.
                warnings.simplefilter("ignore", UserWarning)
                im.load()
                return _to_rgb(_exif_transpose(im))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _bomb(label, exc) from exc
        except MemoryError:
            raise ImageDecodeError(label, "out of memory while decoding") from None
        except Exception as exc:  # a hostile file must surface as a decode error, never a crash
            raise ImageDecodeError(label, _reason(exc), hint=_HINT) from exc


_HINT = "re-export or re-download the file; it cannot be decoded as it is"


def _label(src: ImageSource, name: str | None) -> str:
    if name:
        return name
    return "<bytes>" if isinstance(src, (bytes, bytearray, memoryview)) else os.fspath(src)


def _open(src: ImageSource, label: str, max_pixels: int | None = None) -> Image.Image:
    """Open lazily (header only), mapping every failure to ImageDecodeError."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageDecodeError(label, "empty input (0 bytes)", hint=_HINT)
        fp: str | io.BytesIO = io.BytesIO(bytes(src))
    else:
        fp = os.fspath(src)
        try:
            if os.path.getsize(fp) == 0:
                raise ImageDecodeError(label, "empty file (0 bytes)", hint=_HINT)
        except OSError as exc:
            raise ImageDecodeError(label, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(label, "not an image (unrecognised or unsupported format)") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow refuses very large headers inside open(); report them against our own cap.
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        if max_pixels is not None and claimed and int(claimed.group(1)) > max_pixels:
            _check_size(int(claimed.group(1)), 1, label, max_pixels)
        raise _bomb(label, exc) from exc
    except Exception as exc:
        raise ImageDecodeError(label, _reason(exc), hint=_HINT) from exc
    if im.width <= 0 or im.height <= 0:
        im.close()
        raise ImageDecodeError(label, f"image has no pixels ({im.width}x{im.height})")
    return im


def _check_size(width: int, height: int, label: str, max_pixels: int) -> None:
    if width * height > max_pixels:
        dims = f"{width}x{height} = " if height > 1 else ""
        raise ImageTooLargeError(
            label,
            f"image is {dims}{width * height / 1e6:.1f} megapixels, "
            f"over the limit of {max_pixels / 1e6:g} megapixels",
            hint="downscale the image, or raise the limit (max_pixels / --max-image-megapixels)",
        )


def _bomb(label: str, exc: BaseException) -> ImageDecodeError:
    return ImageTooLargeError(
        label,
        f"rejected as a possible decompression bomb ({exc})",
        hint="downscale the image if it is genuine",
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"file is truncated or incomplete ({text or type(exc).__name__})"
    return f"cannot decode: {type(exc).__name__}: {text}"


def _draft_request(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The size to ask ``draft`` for so the shorter side stays >= ``min_side`` (never upscales)."""
    w, h = size
    scale = min(1.0, min_side / min(w, h))
    return max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))


def _exif_transpose(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not lose a good image
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
        im = Image.fromarray(_scale_to_uint8(im))
    out = im.convert("RGB")
    return out if out is not im else im.copy()


def _scale_to_uint8(im: Image.Image) -> np.ndarray:
    """16-bit -> 8-bit by value / 257 (rounded), not by clipping at 255.

    Mode "I" (32-bit int) holds 16-bit data when values exceed 255, else 8-bit data; mode "F"
    is taken as 0..1 when its maximum is <= 1, else as 0..255.
    """
    arr = np.asarray(im)
    if im.mode in _SIXTEEN_BIT:
        arr = arr.astype(np.float64) / 257.0
    elif im.mode == "I":
        arr = arr.astype(np.float64)
        if arr.max(initial=0) > 255:
            arr = np.clip(arr, 0, 65535) / 257.0
    else:  # "F"
        arr = np.nan_to_num(arr.astype(np.float64))
        if arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
