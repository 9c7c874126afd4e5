import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from jointspace.errors import BadInputError, ImageDecodeError
from jointspace.ingest.decode import DEFAULT_MAX_PIXELS, load_image, probe_image

# The sample_images_dir files that plain Pillow handles the same way (16-bit it clips; we scale).
PILLOW_SAME = [
    "animated.gif",
    "cmyk.jpg",
    "exif_rotated.jpg",
    "gray.png",
    "palette.png",
    "rgb.jpg",
    "rgba.png",
]


def pattern_rgb(width: int, height: int) -> np.ndarray:
    """Gradients plus noise: something JPEG has to work at."""
    y, x = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(0).integers(0, 40, (height, width, 3))
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1)
    return np.clip(img + noise - 20, 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR claims width x height (8-bit RGB), with the given IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat or zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def _reference(path) -> Image.Image:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def test_sample_list_is_complete(sample_images_dir):
    assert sorted(p.name for p in sample_images_dir.iterdir()) == sorted(
        PILLOW_SAME + ["gray16.png"]
    )


@pytest.mark.parametrize("name", PILLOW_SAME)
def test_matches_the_plain_pillow_reference(sample_images_dir, name):
    path = sample_images_dir / name
    out = load_image(path)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(_reference(path)))


def test_path_and_bytes_agree(sample_images_dir):
    path = sample_images_dir / "rgb.jpg"
    a, b = load_image(path), load_image(path.read_bytes())
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert load_image(str(path)).size == (48, 32)


def test_exif_orientation_is_applied(sample_images_dir):
    assert probe_image(sample_images_dir / "exif_rotated.jpg").width == 48  # stored landscape
    out = load_image(sample_images_dir / "exif_rotated.jpg")
    assert out.size == (32, 48)
    upright = np.asarray(
        load_image(sample_images_dir / "rgb.jpg").transpose(Image.Transpose.ROTATE_270)
    )
    assert np.abs(np.asarray(out).astype(int) - upright).mean() < 3  # same picture, JPEG noise


def test_alpha_and_palette_follow_convert_rgb(sample_images_dir):
    rgba = Image.open(sample_images_dir / "rgba.png")
    np.testing.assert_array_equal(
        np.asarray(load_image(sample_images_dir / "rgba.png")), np.asarray(rgba)[..., :3]
    )


def test_cmyk_and_grayscale_become_rgb(sample_images_dir):
    gray = load_image(sample_images_dir / "gray.png")
    arr = np.asarray(gray)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    cmyk = np.asarray(load_image(sample_images_dir / "cmyk.jpg"), dtype=float)
    rgb = np.asarray(load_image(sample_images_dir / "rgb.jpg"), dtype=float)
    assert cmyk.shape == rgb.shape and np.corrcoef(cmyk.ravel(), rgb.ravel())[0, 1] > 0.98


def test_sixteen_bit_is_scaled_not_clipped(sample_images_dir):
    out = np.asarray(load_image(sample_images_dir / "gray16.png"))[..., 0]
    want = np.asarray(Image.open(sample_images_dir / "gray.png"))  # the 8-bit original
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(
    "values, want",
    [([0, 257, 32896, 65535], [0, 1, 128, 255]), ([0, 1000, 60000, 65535], [0, 4, 233, 255])],
)
def test_sixteen_bit_values(tmp_path, values, want):
    Image.fromarray(np.array([values], dtype=np.uint16)).save(tmp_path / "a.png")
    assert np.asarray(load_image(tmp_path / "a.png"))[0, :, 0].tolist() == want


def test_float_and_int32_modes():
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    buf = io.BytesIO()
    f.save(buf, format="TIFF")
    assert np.asarray(load_image(buf.getvalue()))[0, :, 0].tolist() == [0, 128, 255]
    i = Image.fromarray(np.array([[0, 100, 200]], dtype=np.int32))
    buf = io.BytesIO()
    i.save(buf, format="TIFF")
    assert np.asarray(load_image(buf.getvalue()))[0, :, 0].tolist() == [0, 100, 200]


def test_first_frame_of_animation(sample_images_dir):
    with Image.open(sample_images_dir / "animated.gif") as im:
        first = np.asarray(im.convert("RGB"))
        im.seek(2)
        third = np.asarray(im.convert("RGB"))
    out = np.asarray(load_image(sample_images_dir / "animated.gif"))
    np.testing.assert_array_equal(out, first)
    assert not np.array_equal(out, third)


def _jpeg_bytes(w=64, h=48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern_rgb(w, h)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty input"),
        (b"hello, I am a text file\n" * 10, "not an image"),
        (_jpeg_bytes()[:300], "truncated"),
        (png_with_header(10, 10, idat=b"\x78\x9c\x00"), "truncated"),  # cut zlib stream
    ],
)
def test_bad_bytes_raise_decode_error(data, reason):
    with pytest.raises(ImageDecodeError) as info:
        load_image(data, name="upload.jpg")
    assert reason in info.value.reason
    assert info.value.path == "upload.jpg"
    assert isinstance(info.value, BadInputError)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(pattern_rgb(64, 64)).save(buf, format="PNG")
    (tmp_path / "t.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match="truncated"):
        load_image(tmp_path / "t.png")


def test_zero_byte_and_missing_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty file"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageDecodeError, match="cannot read file") as info:
        load_image(tmp_path / "missing.jpg")
    assert info.value.path == str(tmp_path / "missing.jpg")


@pytest.mark.parametrize("w, h", [(0, 10), (10, 0)])
def test_zero_sized_image(w, h):
    with pytest.raises(ImageDecodeError):
        load_image(png_with_header(w, h))


@pytest.mark.parametrize(
    "w, h, message",
    [
        # 72 MP: over our 64 MP cap, under Pillow's 89 MP warning
        (9_000, 8_000, "9000x8000 = 72.0 megapixels, over the limit of 64 megapixels"),
        # 1.6 GP (4.8 GB as RGB): Pillow refuses it inside open(); still reported against our cap
        (40_000, 40_000, "1600.0 megapixels, over the limit of 64 megapixels"),
    ],
)
def test_pixel_cap_is_checked_before_decoding(w, h, message):
    bomb = png_with_header(w, h)  # ~100 bytes whatever the header claims
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError) as info:
        load_image(bomb, max_pixels=DEFAULT_MAX_PIXELS)
    assert time.perf_counter() - start < 0.5
    assert message in info.value.reason
    assert "max_pixels" in info.value.hint


def test_custom_pixel_cap():
    data = _jpeg_bytes(64, 48)
    assert load_image(data, max_pixels=64 * 48).size == (64, 48)
    with pytest.raises(ImageDecodeError, match="over the limit"):
        load_image(data, max_pixels=64 * 48 - 1)


def test_pillow_bomb_check_becomes_an_error(monkeypatch):
    # With our cap lifted, Pillow's own decompression-bomb warning must still stop the decode.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(_jpeg_bytes(40, 40), max_pixels=10**12)  # 1600 px: Pillow only warns
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(_jpeg_bytes(100, 100), max_pixels=10**12)  # > 2x the limit: Pillow's error


def test_probe_reads_the_header_only():
    info = probe_image(png_with_header(10_000, 8_000))
    assert (info.format, info.mode, info.width, info.height) == ("PNG", "RGB", 10_000, 8_000)
    assert info.pixels == 80_000_000


@pytest.mark.parametrize("target, want_short", [(None, 1200), (600, 600), (300, 300), (100, 150)])
def test_draft_keeps_the_short_side_at_least_the_target(target, want_short):
    data = _jpeg_bytes(1800, 1200)
    out = load_image(data, draft_size=target)
    assert min(out.size) == want_short  # 1/1, 1/2, 1/4, and 1/8 is the smallest DCT scale
    assert out.size[0] * 2 == out.size[1] * 3


def test_fast_default_and_non_jpeg_unaffected(tmp_path):
    assert min(load_image(_jpeg_bytes(2000, 1000), fast=True).size) == 500  # >= 448
    Image.fromarray(pattern_rgb(1000, 900)).save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png", draft_size=100).size == (1000, 900)


def test_draft_respects_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pattern_rgb(1600, 800)).save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg", draft_size=200).size == (200, 400)


def test_over_the_cap_is_an_image_too_large_error(tmp_path):
    from PIL import Image

    from jointspace.errors import ImageTooLargeError
    from jointspace.ingest.decode import load_image

    path = tmp_path / "big.png"
    Image.new("RGB", (200, 100)).save(path)
    with pytest.raises(ImageTooLargeError) as info:
        load_image(path, max_pixels=10_000)
    assert info.value.http_status == 413 and "megapixels" in info.value.reason
