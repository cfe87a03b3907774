"""The exact request figbuild sends for a figure, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from figbuild.content import ContentPart

#: Credits per generation by resolution (paperbanana-api.md, "Credit Costs").
CREDITS = {"1K": 10, "2K": 15, "4K": 25}

PROMPT_LIMIT = 10_000
CONTENT_LIMIT = 100_000
IMAGE_INPUT_LIMIT = 10
CONTENT_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Request:
    """A ``POST /generate`` body, field for field."""

    type: str
    prompt: str
    model: str
    resolution: str
    aspect_ratio: str
    image_input: tuple[str, ...] = ()
    content: tuple[ContentPart, ...] = ()

    @property
    def cost(self) -> int:
        return CREDITS[self.resolution]

    @property
    def content_length(self) -> int:
        """Characters of ``options.content``, known without the text itself."""
        if not self.content:
            return 0
        return sum(part.length for part in self.content) + len(CONTENT_SEPARATOR) * (len(self.content) - 1)

    @property
    def content_text(self) -> str:
        texts = [part.text for part in self.content]
        if any(text is None for text in texts):
            raise ValueError("content text not read; fill the request's parts first")
        return CONTENT_SEPARATOR.join(text for text in texts if text is not None)

    def body(self, *, with_content: bool = True) -> dict[str, Any]:
        """The JSON body of ``POST /generate`` (without ``options.content`` if asked)."""
        options: dict[str, Any] = {"resolution": self.resolution, "aspect_ratio": self.aspect_ratio}
        if self.image_input:
            options["image_input"] = list(self.image_input)
        if with_content and self.type == "pipeline" and self.content:
            options["content"] = self.content_text
        return {"type": self.type, "prompt": self.prompt, "model": self.model, "options": options}
