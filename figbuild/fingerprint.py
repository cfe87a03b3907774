"""Fingerprints: a hash of the exact request, with per-part digests that say what changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from figbuild.content.model import PREVIOUS_RULES, RULES_VERSION
from figbuild.records import frozen
from figbuild.request import Request

#: Bumped when the fingerprint's definition changes, so old locks read as stale.
SCHEME = 1

# Parts stored by value rather than digest, so a reason can say "1K -> 2K".
_LITERAL_PARTS = ("type", "model", "resolution", "aspect_ratio")
#: The part naming the content rules' version; only figures with content have it.
RULES_PART = "content_rules"


@frozen
class Fingerprint:
    digest: str
    parts: Mapping[str, str]
    #: The digest this request had under the previous content rules (whose content digest
    #: was that of the text sent): a figure made under them, whose text sent is unchanged,
    #: is made from this request. None without content.
    previous: str | None = None

    def made_by(self, digest: str, parts: Mapping[str, str]) -> bool:
        """Whether an image recorded with fingerprint ``digest`` and ``parts`` was made for this
        request: the same digest, or under the previous rules with the same text sent."""
        if digest == self.digest:
            return True
        return self.previous == digest and parts.get(RULES_PART) == PREVIOUS_RULES


def _sha256(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


#: json.dumps's own encoder for these options, made once: a fingerprint takes two or more
#: dumps a figure, and json.dumps makes an encoder for each call with options.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _canonical(value: Any) -> str:
    # default=str: YAML dates and the like, as the prompt template shows them.
    return _ENCODER.encode(value)


def compute(request: Request, template: str, variables: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of ``request``, rendered from ``template`` with ``variables``.

    The digest covers the request exactly (content by the digest of each part, in
    order, which fixes the joined text); ``variables`` are the vars the template
    uses, recorded so that a reason can name the one that changed.
    """
    body = request.body(with_content=False)
    body["content"] = [[part.label, part.digest] for part in request.content]
    # The content rules' version is a part, not in the digest: a request whose text
    # comes out the same under new rules is the same request, and is never paid again.
    digest = "sha256:" + _sha256(_canonical({"scheme": SCHEME, "request": body}))
    previous = None
    if request.content and all(part.sent_digest for part in request.content):
        body["content"] = [[part.label, part.sent_digest] for part in request.content]
        previous = "sha256:" + _sha256(_canonical({"scheme": SCHEME, "request": body}))
    parts: dict[str, str] = {name: getattr(request, name) for name in _LITERAL_PARTS}
    parts["template"] = _sha256(template)
    parts["prompt"] = _sha256(request.prompt)
    if request.image_input:
        parts["image_input"] = _sha256(_canonical(list(request.image_input)))
    for name, value in variables.items():
        parts[f"var:{name}"] = _sha256(_canonical(value))
    if request.content:
        parts[RULES_PART] = str(RULES_VERSION)
    for part in request.content:
        parts[f"content:{part.label}"] = part.digest
        if part.files != (part.file,):
            # What each file read contributed, so a reason can name the included file.
            for file, file_digest in part.sources:
                parts[f"source:{part.label}>{file}"] = file_digest
    return Fingerprint(digest, parts, previous)


def reasons(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """What changed between two fingerprints' parts, in words, in a stable order.

    Under changed content rules the content digests are not comparable, so that
    is the one reason given for the content.
    """
    if old == new:  # the common case, by far: nothing to sort or describe
        return []
    out: list[str] = []
    rules_changed = _has_content(old) and _has_content(new) and old.get(RULES_PART) != new.get(RULES_PART)
    if rules_changed:
        out.append("content rules changed")
    for key in sorted(set(old) | set(new), key=_order):
        before, after = old.get(key), new.get(key)
        if before == after or key in ("prompt", RULES_PART):
            continue
        kind, _, name = key.partition(":")
        if kind == "source" or (rules_changed and kind == "content"):
            continue
        if kind == "content" and before is not None and after is not None:
            out.append(f"content {name} changed" + _changed_files(old, new, name))
        elif kind in _LITERAL_PARTS:
            out.append(f"{kind} {before or 'unset'} -> {after or 'unset'}")
        elif kind == "template":
            out.append("prompt changed")
        elif kind == "image_input":
            out.append("image_input changed")
        else:
            noun = "var" if kind == "var" else "content"
            status = "added" if before is None else "removed" if after is None else "changed"
            out.append(f"{noun} {name} {status}")
    if not out and old.get("prompt") != new.get("prompt"):
        out.append("prompt changed")
    return out


def _has_content(parts: Mapping[str, str]) -> bool:
    return any(key.startswith("content:") for key in parts)


def _changed_files(old: Mapping[str, str], new: Mapping[str, str], label: str) -> str:
    """`` (in a.tex, b.tex)``: the files read for a part whose contribution changed."""
    prefix = f"source:{label}>"
    files = sorted(
        key[len(prefix) :]
        for key in set(old) | set(new)
        if key.startswith(prefix) and old.get(key) != new.get(key)
    )
    if files == [label.partition("#")[0]]:
        return ""  # the named file itself: the label already says so
    return f" (in {', '.join(files)})" if files else ""


def _order(key: str) -> tuple[int, str]:
    kind = key.partition(":")[0]
    rank = ["template", "var", "content", *_LITERAL_PARTS, "image_input"]
    return (rank.index(kind) if kind in rank else len(rank), key)
