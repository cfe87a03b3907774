"""The exact request figbuild sends for a figure, and what it costs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from figbuild.content import ContentPart
from figbuild.records import frozen

CONTENT_SEPARATOR = "\n\n"


@frozen
class Terms:
    """What an image backend charges per request and the limits a request must keep
    (None: no limit). Each backend owns its terms; the core only reads them."""

    credits: Mapping[str, int]  # by resolution
    prompt_limit: int | None = None
    content_limit: int | None = None
    image_input_limit: int | None = None

    def cost(self, request: Request) -> int:
        return self.credits.get(request.resolution, 0)


#: The terms of a backend that spends nothing and accepts anything.
FREE = Terms(credits={})


@frozen
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
