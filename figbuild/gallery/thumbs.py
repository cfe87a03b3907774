"""Thumbnails for the gallery, made once per image and kept by the image's sha256.

A thumbnail's name is its image's hash, so a rebuild of the gallery only makes
thumbnails for images it has not seen: a 200-figure gallery rebuilds without
decoding a single image. A PDF is shown by its first page when poppler's
``pdftoppm`` is installed; otherwise the page shows an icon.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from figbuild import atomic
from figbuild.gallery.model import Image

#: Longest side of a thumbnail, in pixels: sharp on a phone, light on a 200-figure page.
SIZE = 480
SUFFIX = ".jpg"
#: Seconds pdftoppm may take for one first page.
PDF_TIMEOUT = 20.0


def name_of(image: Image) -> str:
    """The thumbnail's file name: the image's hash and the thumbnail size."""
    return f"{image.sha256}-{SIZE}{SUFFIX}"


def thumbnail(image: Image, cache: Path) -> Path | None:
    """The thumbnail of ``image`` in ``cache``, made if it is not there yet.

    None when no thumbnail can be made (a PDF without poppler, bytes that no longer
    hash to ``image.sha256`` because the file changed meanwhile, an unreadable file):
    the page then shows an icon instead.
    """
    target = cache / name_of(image)
    if target.exists():
        return target
    try:
        data = image.path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != image.sha256:
        return None
    if image.suffix == ".pdf":
        rendered = _first_page(data)
        if rendered is None:
            return None
        data = rendered
    try:
        encoded = _scaled(data)
    except (OSError, ValueError, SyntaxError):  # what Pillow raises for bad image data
        return None
    atomic.write_bytes(target, encoded)
    return target


def _scaled(data: bytes) -> bytes:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale, much faster
        opened.thumbnail((SIZE, SIZE))
        picture = opened
        if picture.mode not in ("RGB", "L"):
            background = PILImage.new("RGB", picture.size, "white")
            rgba = picture.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            picture = background
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _first_page(pdf: bytes) -> bytes | None:
    """The first page of a PDF as PNG bytes, by poppler's pdftoppm; None without it."""
    program = shutil.which("pdftoppm")
    if program is None:
        return None
    with tempfile.TemporaryDirectory(prefix="figbuild-thumb-") as scratch:
        source = Path(scratch) / "in.pdf"
        source.write_bytes(pdf)
        command = [program, "-png", "-f", "1", "-l", "1", "-singlefile", "-scale-to", str(SIZE)]
        try:
            subprocess.run(
                [*command, str(source), str(Path(scratch) / "page")],
                check=True,
                capture_output=True,
                timeout=PDF_TIMEOUT,
            )
            return (Path(scratch) / "page.png").read_bytes()
        except (OSError, subprocess.SubprocessError):
            return None
