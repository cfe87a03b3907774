"""Local placeholder images: a labelled card the size and shape of the real figure.

Used by ``sync --placeholder`` (so the paper compiles before real figures exist)
and by the emulator (as the "generated" image it serves).
"""

from __future__ import annotations

import textwrap

from figbuild import images

#: Placeholders are drawn at this fraction of the real pixel size.
PLACEHOLDER_SCALE = 0.5


def draw(width: int, height: int, *, title: str, text: str, banner: str, fmt: str = "PNG") -> bytes:
    """Draw a card with ``banner`` on top, ``title`` large and ``text`` wrapped below."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), (246, 244, 238))
    pen = ImageDraw.Draw(image)
    border = max(2, min(width, height) // 100)
    pen.rectangle((0, 0, width - 1, height - 1), outline=(200, 60, 40), width=border)
    unit = max(10, min(width, height) // 14)
    margin = unit
    body_size = max(10, unit * 55 // 100)
    banner_font = ImageFont.load_default(size=max(10, unit * 6 // 10))
    title_font = ImageFont.load_default(size=unit)
    body_font = ImageFont.load_default(size=body_size)
    pen.text((margin, margin), banner, fill=(200, 60, 40), font=banner_font)
    y = margin + unit * 2
    pen.text((margin, y), title, fill=(30, 30, 30), font=title_font)
    y += unit * 3 // 2
    chars_per_line = max(10, int((width - 2 * margin) / (body_size * 0.55)))
    for line in textwrap.wrap(text, chars_per_line)[: max(1, (height - y - margin) // unit)]:
        pen.text((margin, y), line, fill=(70, 70, 70), font=body_font)
        y += body_size * 13 // 10
    return images.encode(image, fmt)


def first_words(text: str, count: int = 24) -> str:
    """The first ``count`` words of ``text``, with an ellipsis when cut."""
    words = text.split()
    return " ".join(words[:count]) + (" ..." if len(words) > count else "")


def placeholder_image(figure_id: str, prompt: str, resolution: str, aspect_ratio: str, fmt: str) -> bytes:
    """The placeholder for one figure, in its aspect ratio at a reduced size."""
    width, height = images.pixel_size(resolution, aspect_ratio)
    return draw(
        max(16, round(width * PLACEHOLDER_SCALE)),
        max(16, round(height * PLACEHOLDER_SCALE)),
        title=figure_id,
        text=first_words(prompt),
        banner="PLACEHOLDER - run figbuild sync for the real figure",
        fmt=fmt,
    )
