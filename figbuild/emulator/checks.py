"""What the emulated API accepts: the request checks of ``POST /generate`` and of
``GET /tasks``, with the 400 answers' messages. Standard library only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

TYPES = ("standard", "pipeline")
MODELS = ("nano-banana-pro", "nano-banana", "nano-banana-2")
RESOLUTIONS = ("1K", "2K", "4K")
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
STATUSES = ("pending", "processing", "success", "failed")

MAX_PROMPT = 10_000
MAX_CONTENT = 100_000
MAX_IMAGE_INPUT = 10
MAX_PAGE_LIMIT = 100
DEFAULT_PAGE_LIMIT = 20
#: Larger bodies are refused unread (the largest valid request is far smaller).
MAX_BODY = 4 * 1024 * 1024

_GENERATE_FIELDS = ("type", "prompt", "model", "options")
_OPTION_FIELDS = ("resolution", "aspect_ratio", "image_input", "content")


class Invalid(Exception):
    """A request parameter is wrong; the message is the 400 answer's ``error``."""


def _show(value: object) -> str:
    """A value for an error message, cut short so one bad field cannot flood it."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_of(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        choices = ", ".join(f'"{choice}"' for choice in allowed)
        raise Invalid(f"{name} must be one of {choices}; got {_show(value)}")
    assert isinstance(value, str)
    return value


def _no_unknown(obj: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise Invalid(
            f"unknown field{'s' if len(unknown) > 1 else ''} in {name}: "
            f"{', '.join(_show(key) for key in unknown)}; allowed: {', '.join(allowed)}"
        )


@dataclass(frozen=True)
class Generate:
    type: str
    prompt: str
    model: str
    resolution: str
    aspect_ratio: str


def parse_generate(body: bytes | None) -> Generate:
    """Validate a POST /generate body the way the reference documents it."""
    if body is None:
        raise Invalid(f"request body must be JSON of at most {MAX_BODY} bytes, sent with a Content-Length")
    try:
        request = json.loads(body)
    # ValueError covers bytes that are not UTF-8; RecursionError absurdly deep nesting.
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise Invalid("request body must be a JSON object")
    _no_unknown(request, "request body", _GENERATE_FIELDS)
    if "type" not in request:
        raise Invalid('type is required: "standard" or "pipeline"')
    kind = _one_of(request["type"], "type", TYPES)
    prompt = _parse_prompt(request.get("prompt"))
    model = _one_of(request.get("model", MODELS[0]), "model", MODELS)
    options = request.get("options", {})
    if not isinstance(options, dict):
        raise Invalid("options must be a JSON object")
    _no_unknown(options, "options", _OPTION_FIELDS)
    resolution = _one_of(options.get("resolution", RESOLUTIONS[0]), "options.resolution", RESOLUTIONS)
    ratio = _one_of(options.get("aspect_ratio", ASPECT_RATIOS[0]), "options.aspect_ratio", ASPECT_RATIOS)
    _check_image_input(options.get("image_input", []))
    # The content is only used in pipeline mode, but it is checked in either mode.
    content = options.get("content", "")
    if not isinstance(content, str):
        raise Invalid("options.content must be a string")
    if len(content) > MAX_CONTENT:
        raise Invalid(f"options.content is too long: {len(content)} characters, at most {MAX_CONTENT}")
    return Generate(kind, prompt, model, resolution, ratio)


def _parse_prompt(prompt: object) -> str:
    if prompt is None:
        raise Invalid("prompt is required: a non-empty string")
    if not isinstance(prompt, str):
        raise Invalid(f"prompt must be a string; got {_show(prompt)}")
    if not prompt.strip():
        raise Invalid("prompt must not be empty")
    if len(prompt) > MAX_PROMPT:
        raise Invalid(f"prompt is too long: {len(prompt)} characters, at most {MAX_PROMPT}")
    return prompt


def _check_image_input(urls: object) -> None:
    if not isinstance(urls, list):
        raise Invalid("options.image_input must be a list of https:// URLs")
    if len(urls) > MAX_IMAGE_INPUT:
        raise Invalid(f"options.image_input has {len(urls)} URLs, at most {MAX_IMAGE_INPUT}")
    for index, url in enumerate(urls):
        if not isinstance(url, str) or not url.startswith("https://") or len(url) <= 8:
            raise Invalid(f"options.image_input[{index}] must be an https:// URL; got {_show(url)}")


@dataclass(frozen=True)
class ListQuery:
    page: int
    limit: int
    type: str | None
    status: str | None


def parse_list_query(query: str) -> ListQuery:
    """Validate GET /tasks parameters; "all" (the documented default) means no filter."""
    params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
    page = _int_param(params, "page", 1, 1, None)
    limit = _int_param(params, "limit", DEFAULT_PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
    kind = _one_of(params.get("type", "all"), "type", ("all", *TYPES))
    status = _one_of(params.get("status", "all"), "status", ("all", *STATUSES))
    return ListQuery(page, limit, None if kind == "all" else kind, None if status == "all" else status)


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    text = params.get(name)
    if text is None:
        return default
    bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
    try:
        value = int(text)
    except ValueError:
        raise Invalid(f"{name} must be an integer {bounds}; got {_show(text)}") from None
    if value < low or (high is not None and value > high):
        raise Invalid(f"{name} must be an integer {bounds}; got {value}")
    return value
