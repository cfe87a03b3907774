"""Image facts shared by the placeholder painter, the emulator and the downloader.

Pillow is imported inside the functions that need it: ``figbuild status`` never
loads it.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from figbuild.errors import FigbuildError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Long side in pixels for each API resolution.
LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}

#: At most this many images are decoded (for a format conversion) at once: a 4K
#: image takes ~28 MB decoded, so memory stays bounded however many are in flight.
_DECODING = threading.BoundedSemaphore(2)

#: Output extension -> Pillow format name.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".pdf": "PDF"}


class ImageError(FigbuildError):
    """Bytes that should be an image are not a complete, readable one."""


def pixel_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """The width and height the API produces for a resolution and aspect ratio."""
    long_side = LONG_SIDE[resolution]
    w_ratio, h_ratio = (int(part) for part in aspect_ratio.split(":"))
    if w_ratio >= h_ratio:
        return long_side, max(1, round(long_side * h_ratio / w_ratio))
    return max(1, round(long_side * w_ratio / h_ratio)), long_side


def format_for(path: str | Path) -> str:
    """The Pillow format name an output path's extension asks for."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise FigbuildError(
            f"unsupported output extension {suffix!r} for {path}",
            hint="use .png, .jpg, .jpeg or .pdf",
        ) from None


def sniff_format(head: bytes) -> str | None:
    """The format named by a file's first bytes, or None when it is no image we know."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"%PDF-"):
        return "PDF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def verify(path: Path) -> str:
    """Check that ``path`` holds a complete image; return its format.

    Done without decoding pixels, so memory stays small for 4K images: a PDF
    needs its end-of-file marker, a JPEG its end-of-image marker, and a PNG's
    chunks must all be there with valid checksums (Pillow's ``verify``).
    """
    with path.open("rb") as handle:
        head = handle.read(16)
        handle.seek(max(0, path.stat().st_size - 1024))
        tail = handle.read()
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageError(f"{path.name} is not an image (unrecognised header)")
    if fmt == "PDF" and b"%%EOF" not in tail:
        raise ImageError(f"{path.name} is a truncated PDF")
    if fmt == "JPEG" and b"\xff\xd9" not in tail[-64:]:
        raise ImageError(f"{path.name} is a truncated JPEG")
    if fmt == "PDF":
        return fmt
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as exc:  # Pillow raises a wide range of errors for bad data
        raise ImageError(f"{path.name} is not a complete image: {exc}") from exc
    return fmt


def convert(source: Path, target: IO[bytes], fmt: str) -> None:
    """Write the image at ``source`` to ``target`` in Pillow format ``fmt``."""
    from PIL import Image

    with _DECODING, Image.open(source) as image:
        image.load()
        if fmt in ("JPEG", "PDF") and image.mode not in ("RGB", "L"):
            image = _flatten(image)
        image.save(target, format=fmt)


def fit(data: bytes, fmt: str, name: str) -> bytes:
    """``data`` as an image of format ``fmt``: as it is, or converted as a fresh download
    is. An ImageError says why it cannot be (not an image; a PDF into a raster format)."""
    have = sniff_format(data[:16])
    if have == fmt:
        return data
    if have is None:
        raise ImageError(f"{name} is not an image")
    if have == "PDF":
        raise ImageError(f"{name} is a PDF, and figbuild cannot turn a PDF into a {fmt}")
    from PIL import Image

    buffer = io.BytesIO()
    with _DECODING, Image.open(io.BytesIO(data)) as image:
        image.load()
        if fmt in ("JPEG", "PDF") and image.mode not in ("RGB", "L"):
            image = _flatten(image)
        image.save(buffer, format=fmt)
    return buffer.getvalue()


def encode(image: Image, fmt: str) -> bytes:
    """Encode a Pillow image in ``fmt`` (PNG, JPEG or PDF) and return the bytes."""
    buffer = io.BytesIO()
    if fmt in ("JPEG", "PDF") and image.mode not in ("RGB", "L"):
        image = _flatten(image)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _flatten(image: Image) -> Image:
    """Composite transparency onto white, for formats without an alpha channel."""
    from PIL import Image as PILImage

    rgba = image.convert("RGBA")
    background = PILImage.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
