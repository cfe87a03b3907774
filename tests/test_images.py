"""Image checks: a cut download is never taken for an image, whatever its format."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from figbuild import images


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "PDF"])
def test_complete_images_pass(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "a"
    path.write_bytes(_encoded(fmt))
    assert images.verify(path) == fmt


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "PDF"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_images_fail(tmp_path: Path, fmt: str, keep: float) -> None:
    data = _encoded(fmt)
    path = tmp_path / "a"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(images.ImageError):
        images.verify(path)


def test_html_error_page_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_text("<html>502 Bad Gateway</html>")
    with pytest.raises(images.ImageError, match="not an image"):
        images.verify(path)


@pytest.mark.parametrize(("source", "target"), [("JPEG", "PNG"), ("PNG", "JPEG"), ("PNG", "PDF")])
def test_convert(tmp_path: Path, source: str, target: str) -> None:
    path = tmp_path / "a"
    path.write_bytes(_encoded(source))
    out = io.BytesIO()
    images.convert(path, out, target)
    converted = tmp_path / "b"
    converted.write_bytes(out.getvalue())
    assert images.verify(converted) == target
