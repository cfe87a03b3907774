"""``figures.lock``: what each figure was generated from, and tasks still in flight.

The file is committed with the paper, so its text is stable: sorted keys, two-space
indent, a trailing newline, a format number checked on read. It is only ever
written whole and atomically, and concurrent runs on one paper serialise on a
file lock (:mod:`figbuild.statedir`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, field, fields, replace
from pathlib import Path, PurePosixPath
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from figbuild import atomic
from figbuild.errors import LockFileError
from figbuild.images import FORMATS
from figbuild.paths import RootGuard, check_relative
from figbuild.records import frozen
from figbuild.timestamps import is_time

LOCK_NAME = "figures.lock"
#: 2: ``how`` (and ``candidate``) replace v1's ``placeholder`` flag; failures are kept.
FORMAT = 2
#: Ways an image can be a figure's current one that only stand in for a real image.
PROVISIONAL = frozenset({"placeholder", "emulator"})


@frozen
class Generated:
    """A figure's current image, and the request it stands for.

    ``how`` says how it came to be (the history store's words: generated,
    candidate, restored, accepted, hand-edit, placeholder, emulator). A restored
    or accepted image is recorded under the inputs it was pinned to, so it is
    fresh until an input changes.
    """

    fingerprint: str
    parts: Mapping[str, str]
    output: str
    sha256: str
    generated_at: str
    how: str = "generated"
    task_id: str | None = None
    credits: int = 0
    model: str | None = None
    resolution: str | None = None
    candidate: int | None = None

    @property
    def provisional(self) -> bool:
        """Whether it only stands in for a real image (a real sync replaces it)."""
        return self.how in PROVISIONAL


@frozen
class Pending:
    """A task submitted (and paid for) but not yet collected.

    ``task_id`` is None from just before ``POST /generate`` is sent until its
    answer is recorded: a run killed in between leaves this mark, and the next
    run looks for the task on the server before it ever submits again.
    """

    task_id: str | None
    fingerprint: str
    parts: Mapping[str, str]
    output: str
    credits: int
    submitted_at: str
    candidate: int | None = None


@frozen
class Failure:
    """The last attempt at a figure failed: why, and what it cost. Cleared by the next attempt."""

    reason: str
    failed_at: str
    task_id: str | None = None
    credits: int = 0


@frozen
class Record:
    generated: Generated | None = None
    pending: tuple[Pending, ...] = ()
    last_failure: Failure | None = None
    #: Outputs the figure's image was at before its ``output`` (or ``output_dir``) moved:
    #: named by nothing else, they are listed by ``status`` and removed by ``prune``.
    #: Optional in the file (absent when empty): locks without it read as before.
    left_behind: tuple[str, ...] = ()


@frozen
class Lock:
    figures: Mapping[str, Record] = field(default_factory=dict)

    def record(self, figure_id: str) -> Record:
        return self.figures.get(figure_id, Record())

    def with_generated(self, figure_id: str, generated: Generated, *, done: Pending | None = None) -> Lock:
        """Record ``generated`` for a figure, retiring the pending entry it came from. The
        output its previous image was at, if another, is remembered as left behind."""
        record = self.record(figure_id)
        left = record.left_behind
        old = record.generated
        if old is not None and old.output != generated.output and old.output not in left:
            left = (*left, old.output)
        left = tuple(path for path in left if path != generated.output)
        pending = tuple(p for p in record.pending if p != done)
        return self._with(figure_id, Record(generated, pending, left_behind=left))

    def without_left_behind(self, figure_id: str, outputs: tuple[str, ...]) -> Lock:
        """Forget outputs left behind (``prune`` removed them)."""
        record = self.record(figure_id)
        left = tuple(path for path in record.left_behind if path not in outputs)
        return self._with(figure_id, replace(record, left_behind=left))

    def with_failure(self, figure_id: str, failure: Failure | None) -> Lock:
        """Remember (or, with None, forget) the figure's last failed attempt."""
        return self._with(figure_id, replace(self.record(figure_id), last_failure=failure))

    def with_pending(self, figure_id: str, pending: Pending) -> Lock:
        record = self.record(figure_id)
        return self._with(figure_id, replace(record, pending=(*record.pending, pending)))

    def replace_pending(self, figure_id: str, old: Pending, new: Pending | None) -> Lock:
        """Swap one pending entry for another (or drop it, with ``new=None``)."""
        record = self.record(figure_id)
        kept = tuple(p for p in record.pending if p != old)
        return self._with(figure_id, replace(record, pending=kept if new is None else (*kept, new)))

    def without(self, figure_id: str) -> Lock:
        return self._with(figure_id, Record())

    def _with(self, figure_id: str, record: Record) -> Lock:
        figures = dict(self.figures)
        if (
            record.generated is None
            and not record.pending
            and record.last_failure is None
            and not record.left_behind
        ):
            figures.pop(figure_id, None)
        else:
            figures[figure_id] = record
        return Lock(figures)


def dumps(lock: Lock) -> str:
    """The lock's text: deterministic, so a no-op run leaves the file byte-identical."""
    figures: dict[str, Any] = {}
    for figure_id, record in lock.figures.items():
        entry: dict[str, Any] = {}
        if record.generated is not None:
            entry["generated"] = asdict(record.generated)
            if record.generated.provisional is None:
                del entry["generated"]["provisional"]  # locks of real images read as before
        if record.pending:
            entry["pending"] = [asdict(p) for p in sorted(record.pending, key=lambda p: p.submitted_at)]
        if record.last_failure is not None:
            entry["last_failure"] = asdict(record.last_failure)
        if record.left_behind:
            entry["left_behind"] = sorted(record.left_behind)
        figures[figure_id] = entry
    document = {"figbuild_lock": FORMAT, "figures": figures}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str, path: Path) -> Lock:
    """Parse lock text; a corrupt or newer lock is a LockFileError naming ``path``.

    Every field is checked for its type (and dates for being dates) here, so that
    nothing downstream meets a value it cannot use: a lock from a bad merge or a
    hostile pull request is one clear error, never a traceback mid-sync.
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        document = None
    if document is None and _CONFLICT.search(text):
        raise MergeConflict(path)
    if not isinstance(document, dict) or "figbuild_lock" not in document:
        raise LockFileError(
            f"{path} is not a figbuild lock file (corrupt or hand-edited)",
            hint="restore it from version control, or delete it to treat every figure as new",
        )
    version = document["figbuild_lock"]
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT:
        raise LockFileError(
            f"{path} was written by a newer figbuild (lock format {version}; this one reads {FORMAT})",
            hint="upgrade figbuild: pip install -U ./figbuild from an updated clone of its repository",
        )
    try:
        if type(version) is not int or version < 1:
            raise _Bad("figbuild_lock", f"{_show(version)} is not a lock format number")
        _known_keys(document, {"figbuild_lock", "figures"}, "")
        figures = {
            figure_id: _record(figure_id, entry)
            for figure_id, entry in _mapping(document.get("figures"), "figures").items()
        }
        if _may_hold_controls(text):
            _check_printable(figures)
    except _Bad as bad:
        raise LockFileError(
            f"{path}: {bad.where}: {bad.what}; figbuild cannot read this lock",
            hint="restore it from version control (a bad merge or a hand edit?)",
        ) from None
    return Lock(figures)


#: The lines git writes around the two sides of a conflicted text merge.
_CONFLICT = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)


class MergeConflict(LockFileError):
    """The lock holds git's conflict markers: a merge of two branches that both changed it,
    without figbuild's merge driver. Nothing is lost: each side's images are in git."""

    def __init__(self, path: Path) -> None:
        name = path.name
        super().__init__(
            f"{path} has unresolved git merge conflicts (two branches both changed it); "
            "no figure's image is lost",
            hint=(
                f"take the other side's lock, then sync: `git checkout --theirs {name}` (or `--ours`), "
                "then `figbuild sync`: it records the images at hand as their figures' and puts the ones "
                "your history keeps back for 0 credits; nothing made on either side is paid again. "
                "To have git merge the lock by itself from now on: `figbuild init --git`"
            ),
        )


class _Bad(Exception):
    """One thing wrong in a lock document: where (a dotted key path) and what."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(where, what)
        self.where, self.what = where, what


_FIGURE_ID = re.compile(r"[A-Za-z0-9_-]+")


def _record(figure_id: str, value: Any) -> Record:
    where = _key("figures", figure_id)
    if not _FIGURE_ID.fullmatch(figure_id):
        raise _Bad(where, "is not a figure id (letters, digits, '-' and '_')")
    entry = _mapping(value, where)
    _known_keys(entry, {"generated", "pending", "last_failure", "left_behind"}, where)
    generated = entry.get("generated")
    pending = entry.get("pending", [])
    failure = entry.get("last_failure")
    left = entry.get("left_behind", [])
    if not isinstance(pending, list):
        raise _Bad(f"{where}.pending", f"{_show(pending)} is not a list")
    if not isinstance(left, list) or any(type(path) is not str or _CONTROL.search(path) for path in left):
        raise _Bad(f"{where}.left_behind", f"{_show(left)} is not a list of paths")
    return Record(
        generated=None if generated is None else _entry(Generated, _v1(generated), f"{where}.generated"),
        pending=tuple(_entry(Pending, p, f"{where}.pending[{i}]") for i, p in enumerate(pending)),
        last_failure=None if failure is None else _entry(Failure, failure, f"{where}.last_failure"),
        left_behind=tuple(left),
    )


def _v1(value: Any) -> Any:
    """A ``generated`` entry as format 2 reads it: format 1 had ``placeholder: bool``
    where ``how`` now says how the image was made."""
    if isinstance(value, dict) and type(value.get("placeholder")) is bool:
        value = dict(value)
        value["how"] = "placeholder" if value.pop("placeholder") else "generated"
    return value


_Entry = TypeVar("_Entry", Generated, Pending, Failure)


@frozen
class _Field:
    """What a lock entry's field may hold: worked out once per class from its annotations."""

    name: str
    type: Any  # str, int, bool, or dict for a Mapping[str, str]
    nullable: bool
    required: bool
    date: bool  # a timestamp, as timestamps.now writes it


_FIELDS: dict[type, tuple[_Field, ...]] = {}


def _fields_of(cls: type) -> tuple[_Field, ...]:
    if cls not in _FIELDS:
        hints = get_type_hints(cls)
        specs = []
        for spec in fields(cls):
            hint = hints[spec.name]
            options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
            kind = next(option for option in options if option is not type(None))
            kind = dict if get_origin(kind) is Mapping else kind
            required = spec.default is MISSING
            specs.append(_Field(spec.name, kind, type(None) in options, required, spec.name.endswith("_at")))
        _FIELDS[cls] = tuple(specs)
    return _FIELDS[cls]


def _entry(cls: type[_Entry], value: Any, where: str) -> _Entry:
    """A Generated or Pending from a JSON object, every field of the declared type.

    Written for speed (a lock may hold thousands of entries): a message is only
    built for a value that is wrong.
    """
    entry = _mapping(value, where)
    specs = _fields_of(cls)
    _known_keys(entry, {spec.name for spec in specs}, where)
    for spec in specs:
        if spec.name not in entry:
            if spec.required:
                raise _Bad(where, f"the key {spec.name!r} is missing")
            continue
        got = entry[spec.name]
        if got is None and spec.nullable:
            continue
        # type(), not isinstance: bool is an int to isinstance, never to a lock.
        if type(got) is not spec.type:
            raise _Bad(f"{where}.{spec.name}", f"{_show(got)} is not of type {spec.type.__name__}")
        if spec.type is dict:
            for key, item in got.items():
                if type(item) is not str:
                    raise _Bad(_key(f"{where}.{spec.name}", key), f"{_show(item)} is not a string")
        elif spec.type is int and got < 0:
            raise _Bad(f"{where}.{spec.name}", f"{got} is negative")
        elif spec.date:
            _date(got, f"{where}.{spec.name}")
    return cls(**entry)


#: Lock strings reach the terminal (task ids, outputs): no control characters in them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_C1 = re.compile(r"[\x80-\x9f]")


def _may_hold_controls(text: str) -> bool:
    """Whether lock text may decode to a string with a control character.

    JSON refuses raw C0 characters in strings, so only an escape, DEL or a C1
    character can make one; checking for those first keeps a large lock's read fast.
    """
    return "\\" in text or "\x7f" in text or (not text.isascii() and _C1.search(text) is not None)


def _check_printable(figures: Mapping[str, Record]) -> None:
    """Refuse a control character in any string of the lock (rarely needed: see loads)."""
    for figure_id, record in figures.items():
        named: list[tuple[str, Generated | Pending | Failure]] = [
            (f"pending[{i}]", p) for i, p in enumerate(record.pending)
        ]
        if record.generated is not None:
            named.append(("generated", record.generated))
        if record.last_failure is not None:
            named.append(("last_failure", record.last_failure))
        for name, entry in named:
            for field_name, value in asdict(entry).items():
                at = f"{_key('figures', figure_id)}.{name}.{field_name}"
                pairs = value.items() if isinstance(value, dict) else [(None, value)]
                for key, item in pairs:
                    bad = next((t for t in (key, item) if isinstance(t, str) and _CONTROL.search(t)), None)
                    if bad is not None:
                        where = at if key is None else _key(at, key)
                        raise _Bad(where, f"{_show(bad)} contains a control character")


def _date(value: str, where: str) -> None:
    if not is_time(value):
        raise _Bad(where, f"{_show(value)} is not a date (like 2026-11-26T10:00:00Z)")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(where, f"{_show(value)} is not an object")
    return value


def _known_keys(entry: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise _Bad(where or "the top level", f"{_show(unknown[0])} is not a key figbuild knows")


def _key(where: str, key: str) -> str:
    """The dotted path to ``key``; quoted (control characters escaped) unless a plain name."""
    return f"{where}.{key}" if _FIGURE_ID.fullmatch(key) else f"{where}[{_show(key)}]"


def _show(value: Any) -> str:
    """A value in a message: short, on one line, with control characters escaped."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)  # ASCII only, so nothing in it can break the line or the terminal
    return text if len(text) <= 60 else text[:57] + "..."


def check_paths(lock: Lock, path: Path, guard: RootGuard, checked: frozenset[str] = frozenset()) -> None:
    """Refuse a lock naming an output a manifest could not name.

    Each output is checked as the manifest's are (relative, inside the paper root
    once symlinks are resolved, an image extension), so that a bad merge or a
    hostile pull request cannot aim figbuild's writes at another file. Outputs in
    ``checked`` (the manifest's own, which passed these checks) are not checked again.
    """
    for figure_id, record in lock.figures.items():
        entries: list[tuple[str, Generated | Pending]] = [("pending", p) for p in record.pending]
        if record.generated is not None:
            entries.insert(0, ("generated", record.generated))
        outputs = [(kind, entry.output) for kind, entry in entries]
        outputs.extend(("left_behind", output) for output in record.left_behind)
        for kind, output in outputs:
            if output in checked:
                continue
            problem = check_relative(guard, output)
            if problem is None and PurePosixPath(output).suffix.lower() not in FORMATS:
                problem = f"{output!r} is not an image path (.png, .jpg, .jpeg or .pdf)"
            if problem is not None:
                raise LockFileError(
                    f"{path}: figure '{figure_id}': {kind} output {problem}; nothing was written",
                    hint="restore figures.lock from version control (a bad merge, or a hostile change?)",
                )


#: The last lock text parsed, and its Lock: a sync reads the lock twice (to refuse a
#: bad one before taking the run lock, then under it) and parses it once.
_last: tuple[str, Lock] | None = None


def read(path: Path) -> Lock:
    """The lock at ``path``; an empty one when the file does not exist yet."""
    global _last
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    except OSError as exc:
        raise LockFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LockFileError(
            f"{path} is not UTF-8 text, so not a figbuild lock file",
            hint="restore it from version control, or delete it to treat every figure as new",
        ) from None
    last = _last
    if last is not None and last[0] == text:
        return last[1]  # a Lock is immutable: sharing it is safe
    lock = loads(text, path)
    _last = (text, lock)
    return lock


def write(path: Path, lock: Lock) -> None:
    """Atomically replace the lock file, unless its text would not change. An output left
    behind that is no longer on disk (moved by hand, or removed) is forgotten."""
    for figure_id, record in list(lock.figures.items()):
        gone = tuple(output for output in record.left_behind if not (path.parent / output).is_file())
        if gone:
            lock = lock.without_left_behind(figure_id, gone)
    text = dumps(lock)
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return
    atomic.write_bytes(path, text.encode("utf-8"))
