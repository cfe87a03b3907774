"""Property tests: whatever ``figures.lock`` holds, figbuild reads a valid lock or says why not.

Three kinds of input, from least to most like a lock: arbitrary text (and bytes),
arbitrary JSON, and lock-shaped JSON in which any field may be missing, of the
wrong type, or a junk value. The invariants:

- the loader returns a :class:`Lock` or raises :class:`LockFileError` naming the
  file; never any other exception;
- a Lock it returns is well-typed (every field of its declared type, every date
  parses) and survives ``dumps``/``loads`` unchanged;
- a document built only from valid values is always accepted;
- through the CLI, ``figbuild status --check`` and ``figbuild sync --placeholder``
  exit 0, 1 or 2, never with a traceback; exit 2 names figures.lock and leaves it
  as it was; nothing is written outside the paper.
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import lockfile
from figbuild.cli import cli
from figbuild.errors import LockFileError
from figbuild.lockfile import Generated, Lock, Pending
from figbuild.timestamps import parse_time

from .conftest import simple_manifest

LOCK = Path("paper/figures.lock")
EXAMPLES = 200
CLI_EXAMPLES = 100
SYNC_EXAMPLES = 40
#: No deadlines and no speed health checks: CI machines are shared and slow. The
#: paper fixture is shared by the examples; each writes its own figures.lock.
SHARED: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

#: Strings a lock may hold: anything printable (control characters are refused).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
dates = st.datetimes(timezones=st.just(timezone.utc)).map(
    lambda moment: moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
)
outputs = st.sampled_from(
    ["figures/overview.png", "figures/other.jpg", "./figures/overview.png", "figures/a.pdf"]
)
hostile_outputs = st.sampled_from(
    ["../outside.png", "/etc/passwd.png", "figures/../../x.png", "figures/a.txt", "figures.yaml", ""]
)
figure_ids = st.sampled_from(["overview", "other", "gone"])


def _identity(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid


def _or_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, one time in six anything JSON can hold."""
    return st.one_of(*[valid] * 5, json_values)


def _entry(value: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]], pending: bool) -> Any:
    required = {
        "fingerprint": value(texts),
        "parts": value(st.dictionaries(texts, texts, max_size=3)),
        "output": value(outputs if value is _identity else outputs | hostile_outputs | st.text(max_size=9)),
    }
    if pending:
        required.update(
            task_id=value(st.none() | texts),
            credits=value(st.integers(0, 10**6)),
            submitted_at=value(dates),
        )
        return st.fixed_dictionaries(required)
    required.update(sha256=value(texts), generated_at=value(dates))
    optional = {
        "placeholder": value(st.booleans()),
        "task_id": value(st.none() | texts),
        "credits": value(st.integers(0, 10**6)),
        "model": value(st.none() | texts),
        "resolution": value(st.none() | texts),
    }
    return st.fixed_dictionaries(required, optional=optional)


def _documents(value: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]]) -> Any:
    record = st.fixed_dictionaries(
        {},
        optional={
            "generated": value(_entry(value, pending=False)),
            "pending": value(st.lists(value(_entry(value, pending=True)), max_size=2)),
        },
    )
    ids = figure_ids if value is _identity else figure_ids | st.text(max_size=5)
    figures = st.dictionaries(ids, value(record), max_size=3)
    document = st.fixed_dictionaries({"figbuild_lock": st.just(1), "figures": figures})
    if value is _identity:
        return document
    # Sometimes drop a required key, or add one figbuild does not know.
    mangle = st.sampled_from([*[None] * 9, "figbuild_lock", "figures", "extra"])
    return st.tuples(document, mangle).map(_mangle)


def _mangle(pair: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
    document, key = pair
    document = dict(document)
    if key == "extra":
        document[key] = 1
    elif key is not None:
        document.pop(key)
    return document


valid_documents = _documents(_identity)
lock_shaped = _documents(_or_junk)
any_lock_text = st.one_of(
    st.text(alphabet=string.printable, max_size=200),
    st.text(max_size=200),
    json_values.map(json.dumps),
    lock_shaped.map(json.dumps),
)


def _check_lock_or_error(text: str) -> Lock | None:
    """The invariant every input must satisfy; the Lock, or None after a proper error."""
    try:
        lock = lockfile.loads(text, LOCK)
    except LockFileError as error:
        message = str(error)
        assert str(LOCK) in message
        return None
    _assert_well_typed(lock)
    text = lockfile.dumps(lock)
    assert lockfile.dumps(lockfile.loads(text, LOCK)) == text
    return lock


def _assert_well_typed(lock: Lock) -> None:
    for figure_id, record in lock.figures.items():
        assert isinstance(figure_id, str)
        entries: list[Generated | Pending] = list(record.pending)
        if record.generated is not None:
            entries.append(record.generated)
        for entry in entries:
            for spec in fields(entry):
                value = getattr(entry, spec.name)
                if spec.name == "parts":
                    assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
                elif spec.name.endswith("_at"):
                    parse_time(value)
                elif spec.name == "credits":
                    assert type(value) is int
                    assert value >= 0
                elif spec.name == "placeholder":
                    assert type(value) is bool
                else:
                    assert value is None or isinstance(value, str), spec.name


@settings(max_examples=EXAMPLES, **SHARED)
@given(st.text())
def test_arbitrary_text_is_a_lock_or_a_lock_error(text: str) -> None:
    _check_lock_or_error(text)


@settings(max_examples=EXAMPLES, **SHARED)
@given(json_values)
def test_arbitrary_json_is_a_lock_or_a_lock_error(document: Any) -> None:
    _check_lock_or_error(json.dumps(document))


@settings(max_examples=EXAMPLES, **SHARED)
@given(lock_shaped)
def test_lock_shaped_json_with_junk_fields_is_a_lock_or_a_lock_error(document: Any) -> None:
    _check_lock_or_error(json.dumps(document))


@settings(max_examples=EXAMPLES, **SHARED)
@given(valid_documents)
def test_every_valid_document_is_read_and_round_trips(document: Any) -> None:
    assert _check_lock_or_error(json.dumps(document)) is not None


@settings(max_examples=EXAMPLES // 2, **SHARED)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_on_disk_are_a_lock_or_a_lock_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "figures.lock"
        path.write_bytes(data)
        try:
            lockfile.read(path)
        except LockFileError as error:
            message = str(error)
            assert str(path) in message


@pytest.fixture(scope="module")
def paper() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "paper"
        (root / "figures").mkdir(parents=True)
        other = {"prompt": "B", "output": "figures/other.jpg"}
        manifest = simple_manifest(overview={"prompt": "A"}, other=other)
        (root / "figures.yaml").write_text(json.dumps(manifest))
        (root / "figures" / "overview.png").write_bytes(b"an image, as far as status cares")
        yield root


@settings(max_examples=CLI_EXAMPLES, **SHARED)
@given(any_lock_text)
def test_status_on_any_lock_exits_0_1_or_2_and_never_shows_a_traceback(paper: Path, text: str) -> None:
    (paper / "figures.lock").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["-C", str(paper), "status", "--check"], catch_exceptions=False)
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output
    assert "\x1b" not in result.output, "no escape sequence from the lock reaches the terminal"
    if result.exit_code == 2:
        assert "figures.lock" in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2, "one line, and a hint"


@settings(max_examples=SYNC_EXAMPLES, **SHARED)
@given(any_lock_text)
def test_sync_on_any_lock_exits_0_1_or_2_and_writes_only_inside_the_paper(paper: Path, text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        outside = Path(directory) / "outside"
        outside.mkdir()
        root = Path(directory) / "paper"
        shutil.copytree(paper, root)
        (root / "figures.lock").write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["-C", str(root), "sync", "--placeholder"], catch_exceptions=False)
        assert result.exit_code in (0, 1, 2)
        assert "Traceback" not in result.output
        assert list(outside.iterdir()) == []
        if result.exit_code == 2:
            assert "figures.lock" in result.stderr
            refused = (root / "figures.lock").read_bytes()
            assert refused == text.encode("utf-8"), "a refused lock is left as it was"
