"""The exact request figbuild sends for a figure, and what it costs under a backend's terms."""

from __future__ import annotations

from dataclasses import replace

import pytest

from figbuild.content import ContentPart
from figbuild.request import CONTENT_SEPARATOR, FREE, Request, Terms

A = ContentPart.of("a.tex", None, "alpha")
B = ContentPart.of("paper.md", "Method", "beta text")


def test_body_is_the_generate_body_field_for_field() -> None:
    request = Request("pipeline", "Draw X", "nano-banana-pro", "2K", "16:9", ("https://e.org/a.png",), (A, B))
    assert request.body() == {
        "type": "pipeline",
        "prompt": "Draw X",
        "model": "nano-banana-pro",
        "options": {
            "resolution": "2K",
            "aspect_ratio": "16:9",
            "image_input": ["https://e.org/a.png"],
            "content": "alpha" + CONTENT_SEPARATOR + "beta text",
        },
    }
    assert "content" not in request.body(with_content=False)["options"]


def test_standard_requests_send_no_content_and_no_empty_image_input() -> None:
    body = Request("standard", "Draw X", "nano-banana", "1K", "1:1", content=(A,)).body()
    assert body["options"] == {"resolution": "1K", "aspect_ratio": "1:1"}


def test_content_length_is_known_without_the_text() -> None:
    request = Request("pipeline", "p", "m", "1K", "1:1", content=(A, B))
    unread = Request("pipeline", "p", "m", "1K", "1:1", content=(A, replace(B, text=None)))
    assert request.content_length == len(request.content_text) == unread.content_length
    assert Request("pipeline", "p", "m", "1K", "1:1").content_length == 0
    with pytest.raises(ValueError, match="not read"):
        _ = unread.content_text


def test_terms_cost_by_resolution() -> None:
    terms = Terms(credits={"1K": 10, "2K": 15})
    assert terms.cost(Request("standard", "p", "m", "2K", "1:1")) == 15
    assert terms.cost(Request("standard", "p", "m", "4K", "1:1")) == 0  # not priced: free
    assert FREE.cost(Request("standard", "p", "m", "1K", "1:1")) == 0
    assert (FREE.prompt_limit, FREE.content_limit, FREE.image_input_limit) == (None, None, None)
