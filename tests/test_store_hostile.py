"""A shared store written by someone else: its entries are data, never paths or pages.

A co-author with write access to a shared ``FIGBUILD_STORE`` can add index lines
and files. Each test plants what such a co-author could (a line whose check is
right, since anyone can compute it) and asserts what SPEC's "What figbuild trusts"
promises: no file is written outside the paper or the store, no file of the
victim's is copied anywhere, and nothing is served as a page.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from figbuild.gallery import site
from figbuild.paper import Paper
from figbuild.store import Entry, How, Meta, Store, StoreWarning
from figbuild.store import disk as store_disk
from figbuild.store.index import SUFFIXES, decode, encode, pack_check

from .conftest import PaperFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"planted"


def planted_entry(root: Path, **fields: object) -> Entry:
    """An entry for the figure ``a`` of the paper at ``root``, as a co-author could write it."""
    from figbuild.lockfile import read

    record = read(root / "figures.lock").figures["a"]
    assert record.generated is not None
    base = Entry(
        id="00000000000000ffdeadbeef",
        fingerprint=record.generated.fingerprint,
        figure="a",
        paper=store_disk.read_paper_id(root) or "",
        sha256=hashlib.sha256(PNG).hexdigest(),
        suffix=".png",
        size=len(PNG),
        how=How.GENERATED,
        when="2026-01-01T00:00:00Z",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def plant(store: Path, entry: Entry, data: bytes = PNG, name: str = "seg-planted.jsonl") -> Path:
    objects = store / "objects" / entry.sha256[:2]
    objects.mkdir(parents=True, exist_ok=True)
    (objects / entry.sha256[2:]).write_bytes(data)
    (store / "index").mkdir(parents=True, exist_ok=True)
    path = store / "index" / name
    path.write_bytes(encode(entry))
    return path


@pytest.fixture
def paper(make_paper: PaperFactory) -> Path:
    from figbuild import engine
    from figbuild.backends.placeholder import PlaceholderBackend
    from figbuild.report import NullReporter

    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter())
    return root


@pytest.mark.parametrize(
    "suffix", ["/../../../../escaped.sh", ".html", ".svg", ".PNG/../../x", "\n.png", ".png\x00"]
)
def test_an_entry_with_a_hostile_suffix_is_refused_and_names_no_file(
    paper: Path, tmp_path: Path, suffix: str
) -> None:
    store = store_disk.location(paper, os.environ)
    plant(store, planted_entry(paper, suffix=suffix))
    warnings: list[StoreWarning] = []
    found = Store.at(paper, on_warning=warnings.append).entries()
    assert all(entry.suffix in SUFFIXES for entry in found)
    assert any("suffix" in str(warning) for warning in warnings), warnings
    out = tmp_path / "site"
    site.build(Paper.open(paper), out)
    written = {path.name for path in (out / site.IMAGES).iterdir()}
    assert all(name.endswith((".png", ".jpg", ".pdf")) for name in written), written
    assert not list(tmp_path.rglob("escaped.sh"))
    assert not list(tmp_path.rglob("*.html*")) or {p.name for p in tmp_path.rglob("*.html*")} == {
        "index.html"
    }


def test_a_pack_line_with_a_hostile_sha256_is_refused(paper: Path, tmp_path: Path) -> None:
    store = store_disk.location(paper, os.environ)
    good = planted_entry(paper)
    plant(store, good, name="seg-good.jsonl")
    hostile = planted_entry(paper, id="00000000000000fffeedface", sha256="../" * 5 + "x" * 49)
    body = encode(hostile)
    (store / "index" / f"pack-00000000000000ff00000000-{pack_check(body)}.jsonl").write_bytes(body)
    warnings: list[StoreWarning] = []
    found = Store.at(paper, on_warning=warnings.append).entries()
    assert hostile.id not in {entry.id for entry in found}
    assert all(len(entry.sha256) == 64 and entry.sha256.isalnum() for entry in found)
    site.build(Paper.open(paper), tmp_path / "site")
    assert not [path for path in tmp_path.rglob("*") if "xxxx" in path.name]


def test_put_never_records_a_suffix_outside_the_closed_set(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", paper="p")
    source = tmp_path / "figure.html"
    source.write_bytes(PNG)
    entry = store.put(source, Meta("sha256:f", "a", How.GENERATED))
    assert entry.suffix == ".png"  # the bytes' format, not the name's
    assert decode(encode(entry)[:-1]) == entry


def test_compaction_never_follows_a_symlink_planted_in_the_index(tmp_path: Path) -> None:
    private = tmp_path / "private.txt"
    private.write_text("the victim's secret\n")
    private.chmod(0o600)
    store = Store(tmp_path / "store", paper="p")
    store.put(PNG, Meta("sha256:f", "a", How.GENERATED))
    (store.index_dir / "seg-zzzz.jsonl").symlink_to(private)
    for n in range(store_disk.COMPACT_AFTER + 1):
        store.put(PNG + str(n).encode(), Meta("sha256:f", "a", How.GENERATED))
    damaged = list((store.path / "damaged").glob("*")) if (store.path / "damaged").exists() else []
    assert not any(b"secret" in path.read_bytes() for path in damaged)
    assert not any(
        b"secret" in path.read_bytes() for path in store.index_dir.iterdir() if not path.is_symlink()
    )
    assert private.read_text() == "the victim's secret\n"


def test_compaction_never_copies_a_hard_link_to_a_file_elsewhere(tmp_path: Path) -> None:
    private = tmp_path / "private.txt"
    private.write_text("the victim's secret\n")
    private.chmod(0o600)
    store = Store(tmp_path / "store", paper="p")
    store.put(PNG, Meta("sha256:f", "a", How.GENERATED))
    os.link(private, store.index_dir / "seg-zzzz.jsonl")
    for n in range(store_disk.COMPACT_AFTER + 1):
        store.put(PNG + str(n).encode(), Meta("sha256:f", "a", How.GENERATED))
    damaged = store.path / "damaged"
    assert not damaged.exists() or not any(b"secret" in path.read_bytes() for path in damaged.iterdir())
    assert private.read_text() == "the victim's secret\n"


def test_set_aside_lines_keep_the_mode_of_the_file_they_came_from(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", paper="p")
    store.put(PNG, Meta("sha256:f", "a", How.GENERATED))
    private = store.index_dir / "seg-0000private.jsonl"
    private.write_bytes(b"0123456789abcdef {not a line of ours}\n")
    private.chmod(0o600)
    for n in range(store_disk.COMPACT_AFTER + 1):
        store.put(PNG + str(n).encode(), Meta("sha256:f", "a", How.GENERATED))
    (aside,) = (store.path / "damaged").iterdir()
    assert b"not a line of ours" in aside.read_bytes()
    assert stat.S_IMODE(aside.stat().st_mode) & 0o077 == 0


def test_gallery_o_never_removes_files_it_did_not_write(paper: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    mine = {
        f"{site.IMAGES}/{'0' * 64}.png": b"my own image",
        f"{site.THUMBS}/{'1' * 64}-256.png": b"my own thumbnail",
        f"{site.SENT}/notes.1.txt": b"my own notes",
    }
    for relative, data in mine.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
    site.build(Paper.open(paper), out)
    (paper / "figures.yaml").write_text("version: 1\nfigures:\n  b:\n    prompt: y\n")
    site.build(Paper.open(paper), out)  # a's files are no longer shown: removed, and only they
    for relative, data in mine.items():
        assert (out / relative).read_bytes() == data, relative
    assert not (out / site.SENT / "a.1.txt").exists()
    assert not [p for p in (out / site.IMAGES).iterdir() if p.name not in {"0" * 64 + ".png"}]


def test_an_index_rewritten_with_its_size_and_mtime_kept_is_read_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", paper="p")
    first = store.put(PNG, Meta("sha256:f", "a", How.GENERATED))
    assert [entry.figure for entry in store.entries()] == ["a"]
    [segment] = store.index_dir.iterdir()
    st = segment.stat()
    rewritten = encode(replace(first, figure="b"))
    assert len(rewritten) == st.st_size
    segment.write_bytes(rewritten)
    os.utime(segment, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [entry.figure for entry in store.entries()] == ["b"], "the cached snapshot was not trusted"
