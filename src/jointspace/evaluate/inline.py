"""Images inlined into self-contained HTML pages (base64 ``data:`` URIs), shared by the reports."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

THUMB_PX = 96


def png_img(png: bytes, alt: str, cls: str | None = None) -> str:
    """An ``<img>`` showing PNG bytes inline."""
    klass = f' class="{html.escape(cls)}"' if cls else ""
    return (f'<img{klass} alt="{html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">')


def thumbnail(path: str | Path, size: int = THUMB_PX) -> str:
    """An <img> with a JPEG thumbnail of ``path`` inlined, or a note if it cannot be read."""
    from PIL import Image

    name = html.escape(Path(path).name)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=85)
    except OSError:
        return f"<em>unreadable: {name}</em>"
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{name}" src="data:image/jpeg;base64,{data}">'
