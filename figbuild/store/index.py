"""The index's line format and the pure decisions over its entries.

One entry is one line: a check (the first 16 hex digits of the sha256 of the
JSON that follows), a space, then the entry as compact JSON with sorted keys and
a format number ``v``. The check catches a line damaged on disk even where the
damage still parses (a flipped digit in a fingerprint would otherwise map an
image to another request): such a line is skipped, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict
from operator import attrgetter
from typing import Any

from figbuild.records import frozen
from figbuild.store.model import Entry, How

#: The format of one index line; a newer one is skipped with a warning, not guessed at.
LINE_FORMAT = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The only suffixes an entry may carry: each names a file (an object's copy in a
#: gallery), so a line of a shared store's index never decides more than this.
SUFFIXES = frozenset({"", ".png", ".jpg", ".jpeg", ".pdf", ".gif", ".webp"})
_HOWS = {how.value: how for how in How}
_TEXT = (str,)
_MAYBE_TEXT = (str, type(None))
#: Every field of a line and the JSON types it may have (bool is not an int here).
_FIELDS = {
    "id": _TEXT,
    "fingerprint": _TEXT,
    "figure": _TEXT,
    "paper": _TEXT,
    "sha256": _TEXT,
    "suffix": _TEXT,
    "size": (int,),
    "how": _TEXT,
    "when": _TEXT,
    "task_id": _MAYBE_TEXT,
    "credits": (int,),
    "model": _MAYBE_TEXT,
    "resolution": _MAYBE_TEXT,
    "candidate": (int, type(None)),
    "changed": _TEXT,
    "trimmed": (bool,),
}


_ORDER = attrgetter("when", "id")  # Entry.order, without a call per entry


class DamagedLine(ValueError):
    """An index line that cannot be trusted; its ``str`` says why."""


def encode(entry: Entry) -> bytes:
    """The index line for ``entry``, newline included."""
    document: dict[str, Any] = asdict(entry)
    document["how"] = entry.how.value
    document["v"] = LINE_FORMAT
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _check(body) + b" " + body + b"\n"


def decode(line: bytes) -> Entry:
    """The entry of one index line (without its newline); DamagedLine if it is not one."""
    check, _, body = line.partition(b" ")
    if check != _check(body):
        raise DamagedLine("damaged index line (checksum mismatch)")
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError:
        raise DamagedLine("damaged index line (not JSON)") from None
    if not isinstance(document, dict):
        raise DamagedLine("damaged index line (not an object)")
    version = document.pop("v", None)
    if version != LINE_FORMAT:
        raise DamagedLine(f"index line of format {version!r}, this figbuild reads {LINE_FORMAT}")
    return _entry(document)


def pack_check(data: bytes) -> str:
    """The check a pack's file name carries: the first 16 hex digits of its sha256."""
    return hashlib.sha256(data).hexdigest()[:16]


def decode_pack(data: bytes) -> list[Entry]:
    """The entries of a pack whose :func:`pack_check` matched its name.

    Its lines passed :func:`decode` before they were merged and the pack is
    intact, so they are parsed in one go without checking each again (a few
    times faster for a long history). DamagedLine if it is not what it claims.
    """
    bodies = [line.partition(b" ")[2] for line in data.split(b"\n") if line]
    try:
        documents = json.loads(b"[" + b",".join(bodies) + b"]")
        entries = []
        for document in documents:
            if document.pop("v") != LINE_FORMAT:
                raise DamagedLine(f"pack line of format {document.get('v')!r}")
            if len(document) != len(_FIELDS):  # the names were checked when merged
                raise DamagedLine("pack line with missing or unknown fields")
            document["how"] = _HOWS[document["how"]]
            # A pack's check is no signature (anyone who can write the index can make
            # one): what names a file is checked again on every read.
            if document["suffix"] not in SUFFIXES or not _SHA256.fullmatch(document["sha256"]):
                raise DamagedLine("pack line with a bad sha256 or suffix")
            # Fields checked when the line was merged: skip the dataclass __init__,
            # which costs more than the JSON parse for a long history.
            entry = object.__new__(Entry)
            entry.__dict__.update(document)
            entries.append(entry)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DamagedLine(f"pack that does not parse ({exc})") from None
    return entries


def _check(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest()[:16].encode("ascii")


def _entry(document: dict[str, Any]) -> Entry:
    if document.keys() != _FIELDS.keys():
        wrong = sorted(document.keys() ^ _FIELDS.keys())
        raise DamagedLine(f"index line with missing or unknown fields ({', '.join(wrong)})")
    problems = [name for name, types in _FIELDS.items() if type(document[name]) not in types]
    if not problems:
        if document["how"] not in _HOWS:
            problems.append("how")
        if not _SHA256.fullmatch(document["sha256"]):
            problems.append("sha256")
        if document["suffix"] not in SUFFIXES:
            problems.append("suffix")
        if document["size"] < 0 or document["credits"] < 0:
            problems.append("size or credits")
    if problems:
        raise DamagedLine(f"index line with bad {', '.join(problems)}")
    document["how"] = _HOWS[document["how"]]
    return Entry(**document)


@frozen
class Index:
    """A snapshot of the index: every readable entry, newest first, and two views."""

    entries: tuple[Entry, ...]
    by_fingerprint: Mapping[str, tuple[Entry, ...]]
    by_figure: Mapping[str, tuple[Entry, ...]]

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Index:
        """Index ``entries``; one id seen twice (a reader racing a compaction) counts
        once, as trimmed if either copy is, so a trimmed image is never offered."""
        listed = list(entries)
        unique = {entry.id: entry for entry in listed}
        if len(unique) < len(listed):  # rare: only while racing a compaction
            for entry in listed:
                if entry.trimmed:
                    unique[entry.id] = entry
        ordered = tuple(sorted(unique.values(), key=_ORDER, reverse=True))
        by_fingerprint: dict[str, list[Entry]] = {}
        by_figure: dict[str, list[Entry]] = {}
        for entry in ordered:
            by_fingerprint.setdefault(entry.fingerprint, []).append(entry)
            by_figure.setdefault(entry.figure, []).append(entry)
        return cls(
            ordered,
            {key: tuple(value) for key, value in by_fingerprint.items()},
            {key: tuple(value) for key, value in by_figure.items()},
        )


def plan_gc(
    entries: Iterable[Entry], *, keep: int, protect: Collection[str], papers: Collection[str] | None
) -> set[str]:
    """The ids of the entries ``gc`` trims: per paper and figure, every live entry
    after the newest ``keep``, unless its object is in ``protect``. Only entries of
    ``papers`` are considered (None: every paper's)."""
    if keep < 0:
        raise ValueError(f"keep must be 0 or more, not {keep}")
    seen: dict[tuple[str, str], int] = {}
    trim: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.order, reverse=True):
        if entry.trimmed or (papers is not None and entry.paper not in papers):
            continue
        group = (entry.paper, entry.figure)
        seen[group] = seen.get(group, 0) + 1
        if seen[group] > keep and entry.sha256 not in protect:
            trim.add(entry.id)
    return trim
