"""The history store: objects by hash, the index, verification, gc and the ledger."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild.statedir import state_dir
from figbuild.store import STORE_ENV, Entry, How, Meta, Store, StoreError, StoreWarning, ledger, location
from figbuild.store import disk as store_disk
from figbuild.store.index import LINE_FORMAT, DamagedLine, Index, decode, decode_pack, encode, plan_gc

PNG = b"\x89PNG\r\n\x1a\n"
StoreFactory = Callable[..., Store]


def image(n: int | str) -> bytes:
    """Distinct small 'PNG' bytes per ``n``."""
    return PNG + f"image {n}".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ticking_clock(start: int = 0) -> Callable[[], str]:
    """A clock that moves one minute per call, so versions have distinct times."""
    minutes = iter(range(start, 10**9))

    def clock() -> str:
        m = next(minutes)
        return f"2026-{1 + m // 44640 % 12:02d}-{1 + m // 1440 % 28:02d}T{m // 60 % 24:02d}:{m % 60:02d}:00Z"

    return clock


@pytest.fixture
def warnings() -> list[StoreWarning]:
    return []


@pytest.fixture
def make_store(tmp_path: Path, warnings: list[StoreWarning]) -> StoreFactory:
    """A store in ``tmp_path/store`` labelled ``paper``; warnings go to ``warnings``."""

    def make(path: Path | None = None, paper: str = "paper-a") -> Store:
        return Store(
            path or tmp_path / "store", paper=paper, on_warning=warnings.append, clock=ticking_clock()
        )

    return make


def meta(fingerprint: str = "sha256:f1", figure: str = "overview", **extra: object) -> Meta:
    how = extra.pop("how", How.GENERATED)
    return Meta(fingerprint=fingerprint, figure=figure, how=how, **extra)  # type: ignore[arg-type]


def object_files(store: Store) -> list[Path]:
    return sorted(p for p in store.objects_dir.rglob("*") if p.is_file())


# -- round trips ----------------------------------------------------------------------


def test_put_then_lookup_get_and_history(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store()
    entry = store.put(
        image(1),
        meta(task_id="t-1", credits=5, model="nano-banana-pro", resolution="2K", changed="prompt"),
    )
    assert entry.sha256 == sha(image(1))
    assert (entry.suffix, entry.size, entry.paper, entry.how) == (
        ".png",
        len(image(1)),
        "paper-a",
        How.GENERATED,
    )
    assert (entry.task_id, entry.credits, entry.model, entry.resolution) == (
        "t-1",
        5,
        "nano-banana-pro",
        "2K",
    )
    assert store.object_path(entry.sha256).read_bytes() == image(1)
    assert store.lookup("sha256:f1") == [entry]
    assert store.lookup("sha256:other") == []
    assert store.history("overview") == [entry]
    assert store.entries() == [entry]
    dest = tmp_path / "out" / "overview.png"
    assert store.get(entry, dest)
    assert dest.read_bytes() == image(1)
    assert store.read(entry) == image(1)


def test_a_fresh_store_reads_the_index_another_wrote(make_store: StoreFactory) -> None:
    first = make_store()
    entry = first.put(image(1), meta())
    assert make_store().lookup("sha256:f1") == [entry]


def test_newest_first_by_time_then_insertion(make_store: StoreFactory) -> None:
    store = make_store()
    old = store.put(image(1), meta(when="2026-01-01T00:00:00Z"))
    new = store.put(image(2), meta(when="2026-03-01T00:00:00Z"))
    same_second = store.put(image(3), meta(when="2026-03-01T00:00:00Z"))
    assert store.lookup("sha256:f1") == [same_second, new, old]
    assert store.history("overview") == [same_second, new, old]


def test_put_from_a_path_takes_its_suffix(make_store: StoreFactory, tmp_path: Path) -> None:
    source = tmp_path / "hand.JPG"
    source.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    entry = make_store().put(source, meta(how=How.HAND_EDIT))
    assert (entry.suffix, entry.how) == (".jpg", How.HAND_EDIT)


@pytest.mark.parametrize(
    ("data", "suffix"),
    [(PNG + b"x", ".png"), (b"\xff\xd8\xff\xe0", ".jpg"), (b"%PDF-1.7", ".pdf"), (b"what", "")],
)
def test_put_of_bytes_sniffs_the_suffix(make_store: StoreFactory, data: bytes, suffix: str) -> None:
    assert make_store().put(data, meta()).suffix == suffix


def test_meta_suffix_wins(make_store: StoreFactory) -> None:
    assert make_store().put(image(1), meta(suffix=".pdf")).suffix == ".pdf"


def test_candidates_and_provisional_kinds_round_trip(make_store: StoreFactory) -> None:
    store = make_store()
    for k in (1, 2, 3):
        store.put(image(k), meta(how=How.CANDIDATE, candidate=k, task_id=f"t{k}", credits=2))
    store.put(image("ph"), meta("sha256:ph", how=How.PLACEHOLDER))
    assert [e.candidate for e in make_store().lookup("sha256:f1")] == [3, 2, 1]
    assert make_store().lookup("sha256:ph")[0].how.provisional
    assert not How.CANDIDATE.provisional


def test_a_single_lookup_finds_exactly_what_a_full_read_finds(make_store: StoreFactory) -> None:
    store = make_store()
    store.put(image(1), meta("sha256:a", "fig"))
    store.put(image(2), meta("sha256:ab", "fig-2"))
    # Field text inside another field's value is escaped, so it never matches.
    store.put(image(3), meta("sha256:c", "other", changed='"figure":"fig" and "fingerprint":"sha256:a"'))
    store.put(image(4), meta('sha256:é\\"', 'fïg \\ "x"'))
    full = make_store()
    full.entries()  # parsed whole: answers from the parsed index
    keys = [("sha256:a", "fig"), ("sha256:ab", "fig-2"), ("sha256:c", "other"), ('sha256:é\\"', 'fïg \\ "x"')]
    for fingerprint, figure in keys:
        scanning = make_store()
        assert scanning.lookup(fingerprint) == full.lookup(fingerprint)
        assert len(full.lookup(fingerprint)) == 1
        assert scanning.history(figure) == full.history(figure)
        assert len(full.history(figure)) == 1
    many = make_store()
    for _ in range(20):  # past the scans a Store makes before it parses the index whole
        assert many.lookup("sha256:a") == full.lookup("sha256:a")


@pytest.mark.parametrize("bad", [{"credits": -1}, {"candidate": "2"}, {"task_id": 7}])
def test_put_refuses_metadata_a_read_would_refuse(make_store: StoreFactory, bad: dict[str, object]) -> None:
    store = make_store()
    with pytest.raises(ValueError, match="cannot store"):
        store.put(image(1), meta(**bad))
    assert store.entries() == []
    assert object_files(store) == []


# -- dedup --------------------------------------------------------------------------


def test_the_same_bytes_are_stored_once(make_store: StoreFactory) -> None:
    store = make_store()
    first = store.put(image(1), meta("sha256:a", "one"))
    second = store.put(image(1), meta("sha256:b", "renamed", how=How.RESTORED))
    assert first.sha256 == second.sha256
    assert first.id != second.id
    assert len(object_files(store)) == 1
    assert store.lookup("sha256:a") == [first]
    assert store.lookup("sha256:b") == [second]


def test_put_repairs_a_damaged_object(make_store: StoreFactory, warnings: list[StoreWarning]) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    store.object_path(entry.sha256).write_bytes(b"garbage")
    store.put(image(1), meta("sha256:again"))
    assert store.object_path(entry.sha256).read_bytes() == image(1)
    assert make_store().lookup("sha256:f1") == [entry]


# -- where the store lives ----------------------------------------------------------


def test_default_location_is_in_the_paper_and_git_ignored(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    root.mkdir()
    store = Store.at(root, {})
    assert store.path == root / ".figbuild" / "store"
    assert store.paper is None
    # Reading an empty store writes nothing into the paper.
    assert store.lookup("sha256:x") == []
    assert store.history("fig") == []
    assert not (root / ".figbuild").exists()
    entry = store.put(image(1), meta())
    assert (root / ".figbuild" / ".gitignore").read_text(encoding="utf-8").endswith("*\n")
    assert entry.paper == store.paper == (root / ".figbuild" / "paper-id").read_text().strip()
    assert entry.paper.startswith("paper-")
    assert Store.at(root, {}).paper == entry.paper


def test_state_dir_restores_a_missing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".figbuild").mkdir()
    state_dir(tmp_path)
    assert (tmp_path / ".figbuild" / ".gitignore").is_file()


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("/srv/figstore", "/srv/figstore"),
        ("shared/store", "{root}/shared/store"),
        ("~/figstore", "{home}/figstore"),
        ("  ", "{root}/.figbuild/store"),
    ],
)
def test_figbuild_store_names_the_location(tmp_path: Path, configured: str, expected: str) -> None:
    home = Path("~").expanduser()
    want = Path(expected.format(root=tmp_path, home=home))
    assert location(tmp_path, {STORE_ENV: configured}) == want


def test_store_at_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "elsewhere"))
    store = Store.at(tmp_path / "paper")
    assert store.path == tmp_path / "elsewhere"


def test_papers_sharing_a_store_restore_across_but_keep_their_own_history(tmp_path: Path) -> None:
    shared = {STORE_ENV: str(tmp_path / "shared")}
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
    a, b = (Store.at(root, shared) for root in roots)
    made = a.put(image(1), meta("sha256:same", "overview"))
    b.put(image(2), meta("sha256:other", "overview"))
    assert a.paper != b.paper
    assert b.lookup("sha256:same") == [made]
    assert [e.paper for e in b.history("overview")] == [b.paper]
    assert {e.paper for e in b.history("overview", all_papers=True)} == {a.paper, b.paper}
    assert len(Store.at(roots[0], shared).entries()) == 2


def test_a_store_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot write to the figure store") as caught:
        Store(tmp_path / "not-a-folder" / "store", paper="p").put(image(1), meta())
    assert "FIGBUILD_STORE" in str(caught.value)


def test_a_full_disk_is_a_store_error(make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_disk.atomic, "write_bytes", full_disk)
    with pytest.raises(StoreError, match="No space left"):
        make_store().put(image(1), meta())


# -- verification -------------------------------------------------------------------


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupt_object_is_skipped_with_a_warning(
    make_store: StoreFactory, warnings: list[StoreWarning], tmp_path: Path
) -> None:
    store = make_store()
    good = store.put(image(1), meta())
    bad = store.put(image(2), meta())
    flip_a_byte(store.object_path(bad.sha256))
    reader = make_store()
    assert reader.lookup("sha256:f1") == [good]
    assert len(warnings) == 1
    assert "damaged" in warnings[0].message
    assert bad.sha256[2:] in warnings[0].path
    dest = tmp_path / "out.png"
    dest.write_bytes(b"keep me")
    assert not reader.get(bad, dest)
    assert dest.read_bytes() == b"keep me"
    assert reader.read(bad) is None
    assert len(warnings) == 1  # the same problem is reported once per Store


def test_a_byte_flipped_after_verification_is_caught(make_store: StoreFactory) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    assert store.lookup("sha256:f1") == [entry]
    flip_a_byte(store.object_path(entry.sha256))  # at once: no stat-based memory vouches for it
    assert store.read(entry) is None
    assert store.lookup("sha256:f1") == []


def test_lookup_without_hashing_still_catches_missing_and_truncated_objects(make_store: StoreFactory) -> None:
    store = make_store()
    whole = store.put(image(1), meta())
    truncated = store.put(image(22), meta())
    gone = store.put(image(333), meta())
    store.object_path(truncated.sha256).write_bytes(image(22)[:-1])
    store.object_path(gone.sha256).unlink()
    assert make_store().lookup("sha256:f1", verify=False) == [whole]
    flip_a_byte(store.object_path(whole.sha256))  # same size: only hashing sees it
    assert make_store().lookup("sha256:f1", verify=False) == [whole]
    assert make_store().lookup("sha256:f1") == []


def test_a_missing_object_is_skipped_with_a_warning(
    make_store: StoreFactory, warnings: list[StoreWarning], tmp_path: Path
) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    store.object_path(entry.sha256).unlink()
    assert store.lookup("sha256:f1") == []
    assert not store.get(entry, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
    assert [w.message for w in warnings] == ["object of 'overview' (2026-01-01T00:00:00Z) is missing"]


# -- a damaged index ----------------------------------------------------------------


def segment_of(store: Store, entry: Entry) -> Path:
    return store.index_dir / f"seg-{entry.id}.jsonl"


def test_damaged_index_lines_are_skipped_and_the_rest_is_read(
    make_store: StoreFactory, warnings: list[StoreWarning]
) -> None:
    store = make_store()
    kept = store.put(image(1), meta("sha256:kept"))
    edited = store.put(image(2), meta("sha256:edited"))
    torn = store.put(image(3), meta("sha256:torn"))
    # A digit changed inside valid JSON: still parses, fails its check.
    path = segment_of(store, edited)
    path.write_bytes(path.read_bytes().replace(b"sha256:edited", b"sha256:edited2"))
    path = segment_of(store, torn)
    path.write_bytes(path.read_bytes()[:40])
    (store.index_dir / "seg-junk.jsonl").write_bytes(b"\x00\xff not json at all\n\n{}\n")
    reader = make_store()
    assert reader.entries() == [kept]
    assert reader.lookup("sha256:edited2") == []
    assert len(warnings) == 4
    assert all("skipped" in w.message for w in warnings)
    junk = [w.message.split(":")[0] for w in warnings if w.path.endswith("seg-junk.jsonl")]
    assert junk == ["line 1", "line 3"]


def line_with(document: dict[str, object]) -> bytes:
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()[:16].encode() + b" " + body


def test_lines_that_check_but_are_not_entries_are_refused(make_store: StoreFactory) -> None:
    good = json.loads(encode(make_store().put(image(1), meta())).split(b" ", 1)[1])
    assert decode(line_with(good)).sha256 == sha(image(1))
    for change in (
        {"v": LINE_FORMAT + 1},
        {"how": "stolen"},
        {"sha256": "../../etc/passwd"},
        {"credits": -1},
        {"size": "12"},
        {"figure": None},
        {"trimmed": 1},
        {"candidate": "1"},
        {"surprise": True},
    ):
        with pytest.raises(DamagedLine):
            decode(line_with({**good, **change}))
    without = dict(good)
    del without["fingerprint"]
    with pytest.raises(DamagedLine):
        decode(line_with(without))
    with pytest.raises(DamagedLine):
        decode(line_with([1, 2]))  # type: ignore[arg-type]


def test_encode_decode_round_trip(make_store: StoreFactory) -> None:
    entry = make_store().put(image(1), meta(changed="prompt: «é»\nline two", candidate=2))
    line = encode(entry)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode(line[:-1]) == entry


def test_a_pack_parses_to_the_entries_its_lines_hold(make_store: StoreFactory) -> None:
    store = make_store()
    made = [store.put(image(i), meta(candidate=i, changed="é")) for i in range(3)]
    pack = b"".join(map(encode, made))
    assert decode_pack(pack) == made
    assert [hash(e) for e in decode_pack(pack)] == [hash(e) for e in made]
    body = json.loads(encode(made[0]).split(b" ", 1)[1])
    for bad in ({**body, "extra": 1}, {**body, "v": 2}, {**body, "how": "nope"}):
        with pytest.raises(DamagedLine):
            decode_pack(line_with(bad) + b"\n")
    with pytest.raises(DamagedLine):
        decode_pack(pack[:-30])


# -- compaction and concurrency -----------------------------------------------------


def test_segments_are_merged_into_a_pack(
    make_store: StoreFactory, warnings: list[StoreWarning], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_disk, "COMPACT_AFTER", 5)
    store = make_store()
    first = store.put(image(0), meta())
    segment_of(store, first).write_bytes(b"damaged\n" + encode(first))
    made = [first] + [store.put(image(i), meta()) for i in range(1, 12)]
    names = sorted(p.name for p in store.index_dir.iterdir())
    assert len(names) <= 6
    assert any(name.startswith("pack-") for name in names)
    assert make_store().lookup("sha256:f1") == made[::-1]
    assert [p.read_bytes() for p in (store.path / "damaged").iterdir()] == [b"damaged\n"]


def test_a_damaged_pack_is_read_line_by_line_and_repacked_without_the_damage(
    make_store: StoreFactory, warnings: list[StoreWarning], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_disk, "COMPACT_AFTER", 3)
    store = make_store()
    made = [store.put(image(i), meta(task_id=f"t{i}")) for i in range(5)]
    (pack,) = store.index_dir.glob("pack-*")
    assert make_store().entries() == made[::-1]  # the intact pack, parsed in one go
    # Still valid JSON, but no longer what was written: caught by the line's check.
    pack.write_bytes(pack.read_bytes().replace(b'"task_id":"t1"', b'"task_id":"t7"'))
    assert [e.task_id for e in make_store().entries()] == ["t4", "t3", "t2", "t0"]
    assert len(warnings) == 1
    assert "checksum" in warnings[0].message
    more = [store.put(image(i), meta(task_id=f"t{i}")) for i in range(5, 9)]
    (repacked,) = store.index_dir.glob("pack-*")
    assert repacked != pack
    assert store_disk._intact_pack(repacked, repacked.read_bytes())
    assert len(make_store().entries()) == 8
    assert len(more) == 4
    assert b"t7" in next((store.path / "damaged").iterdir()).read_bytes()


def test_a_reader_racing_a_compaction_looks_again(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    real = store_disk.read_own
    vanished = []

    def read_own(path: Path) -> tuple[bytes, int]:
        if path.suffix == ".jsonl" and not vanished:
            vanished.append(path)
            raise FileNotFoundError(path)
        return real(path)

    monkeypatch.setattr(store_disk, "read_own", read_own)
    assert make_store().lookup("sha256:f1") == [entry]
    assert vanished


def test_an_index_that_keeps_changing_is_read_under_the_lock(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    monkeypatch.setattr(store_disk, "_READ_ATTEMPTS", 0)  # as if every lock-free read raced a writer
    assert make_store().lookup("sha256:f1") == [entry]
    assert make_store().gc(keep=1).kept_entries == 1


WRITER = textwrap.dedent(
    r"""
    import sys
    from pathlib import Path
    from figbuild.store import How, Meta, Store

    def image(n):
        return b"\x89PNG\r\n\x1a\n" + f"image {n}".encode()

    root, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = Store.at(root, {"FIGBUILD_STORE": sys.argv[4]}, on_warning=lambda w: sys.exit(f"warning: {w}"))
    for i in range(count):
        # Half the images are the same bytes in both writers, half their own.
        data = image(f"shared {i}") if i % 2 else image(f"{name} {i}")
        store.put(data, Meta(f"sha256:{name}-{i}", f"fig-{i % 7}", How.GENERATED, credits=1))
    """
)


@pytest.mark.slow
def test_concurrent_processes_share_one_store(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    count = 150
    writers = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        writers.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(root), name, str(count), str(shared)],
                cwd=Path(__file__).resolve().parent.parent,
            )
        )
    problems: list[StoreWarning] = []
    reader = Store(shared, on_warning=problems.append)
    seen: list[int] = []
    while any(w.poll() is None for w in writers):
        seen.append(len(reader.entries()))
    assert [w.wait() for w in writers] == [0, 0]
    assert seen == sorted(seen)  # a reader never sees entries disappear
    final = Store(shared, on_warning=problems.append)
    entries = final.entries()
    assert len(entries) == 2 * count
    assert {e.fingerprint for e in entries} == {f"sha256:{n}-{i}" for n in "ab" for i in range(count)}
    assert all(final.lookup(e.fingerprint) == [e] for e in entries)
    distinct = {e.sha256 for e in entries}
    assert len(distinct) == count + count // 2
    assert len(object_files(final)) == len(distinct)
    assert problems == []
    assert not list(shared.rglob("*.figbuild-tmp"))
    assert any(p.name.startswith("pack-") for p in final.index_dir.iterdir())  # compactions ran


def test_threads_putting_at_once_lose_nothing(make_store: StoreFactory) -> None:
    store = make_store()

    def put_many(n: int) -> None:
        for i in range(20):
            store.put(image(i), meta(f"sha256:{n}-{i}"))

    threads = [threading.Thread(target=put_many, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(make_store().entries()) == 60
    assert len(object_files(store)) == 20


# -- gc -----------------------------------------------------------------------------


def test_gc_trims_old_versions_but_keeps_their_records(make_store: StoreFactory) -> None:
    store = make_store()
    versions = [store.put(image(i), meta(f"sha256:v{i}", task_id=f"t{i}", credits=3)) for i in range(4)]
    result = store.gc(keep=2)
    assert {e.id for e in result.trimmed} == {versions[0].id, versions[1].id}
    assert set(result.removed_objects) == {versions[0].sha256, versions[1].sha256}
    assert result.freed_bytes == versions[0].size + versions[1].size
    assert result.kept_entries == 2
    reader = make_store()
    assert reader.lookup("sha256:v0") == []
    assert reader.lookup("sha256:v3") == [versions[3]]
    assert [e.trimmed for e in reader.history("overview")] == [False, False, True, True]
    assert ledger(reader.history("overview")).total == 12
    assert not reader.object_path(versions[0].sha256).exists()


def test_gc_never_removes_protected_or_still_referenced_objects(make_store: StoreFactory) -> None:
    store = make_store()
    pinned = store.put(image("pinned"), meta("sha256:p"))
    shared = store.put(image("shared"), meta("sha256:s"))
    store.put(image("other"), meta("sha256:o"))
    store.put(image("shared"), meta("sha256:s2", "another-figure"))
    store.put(image("new"), meta("sha256:n"))
    result = store.gc(keep=1, protect={pinned.sha256})
    assert pinned.id not in {e.id for e in result.trimmed}
    assert shared.id in {e.id for e in result.trimmed}
    assert shared.sha256 not in result.removed_objects  # another-figure still uses it
    assert result.removed_objects == (sha(image("other")),)
    reader = make_store()
    assert reader.lookup("sha256:p") == [pinned]
    assert len(reader.lookup("sha256:s2")) == 1


def test_gc_removes_orphans_and_leftovers_unless_the_index_is_damaged(
    make_store: StoreFactory, warnings: list[StoreWarning]
) -> None:
    store = make_store()
    entry = store.put(image(1), meta())
    orphan = store.object_path(sha(image("orphan")))
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(image("orphan"))
    leftover = store.index_dir / ".seg-x.jsonl.abc.figbuild-tmp"
    leftover.write_bytes(b"half")
    (store.index_dir / "seg-bad.jsonl").write_bytes(b"damaged line\n")
    assert store.gc(keep=1).removed_objects == ()
    assert orphan.exists()
    (store.index_dir / "seg-bad.jsonl").unlink()
    assert make_store().gc(keep=1).removed_objects == (sha(image("orphan")),)
    assert not leftover.exists()
    assert make_store().lookup("sha256:f1") == [entry]


def test_gc_dry_run_changes_nothing(make_store: StoreFactory, tmp_path: Path) -> None:
    from tests.conftest import all_files

    store = make_store()
    for i in range(3):
        store.put(image(i), meta())
    before = all_files(store.path)
    result = store.gc(keep=1, dry_run=True)
    assert len(result.trimmed) == 2
    assert all_files(store.path) == before


def test_gc_trims_only_this_papers_entries(tmp_path: Path) -> None:
    a = Store(tmp_path / "s", paper="a", clock=ticking_clock())
    b = Store(tmp_path / "s", paper="b", clock=ticking_clock(100))
    older = a.put(image(1), meta("sha256:a1"))
    a.put(image(2), meta("sha256:a2"))
    b_old = b.put(image(3), meta("sha256:b1"))
    b.put(image(4), meta("sha256:b2"))
    assert [e.id for e in b.gc(keep=1).trimmed] == [b_old.id]
    assert b.lookup("sha256:a1") == [older]
    assert {e.id for e in b.gc(keep=1, all_papers=True).trimmed} == {older.id}
    with pytest.raises(ValueError, match="keep"):
        a.gc(keep=-1)


def test_plan_gc_is_per_paper_and_figure() -> None:
    def e(n: int, figure: str, paper: str = "p", trimmed: bool = False) -> Entry:
        return Entry(
            f"{n:04d}", "fp", figure, paper, "0" * 64, ".png", 1, How.GENERATED, f"T{n:04d}", trimmed=trimmed
        )

    entries = [e(1, "x"), e(2, "x"), e(3, "y"), e(4, "x", trimmed=True), e(5, "x", "q")]
    assert plan_gc(entries, keep=1, protect=(), papers=None) == {"0001"}
    assert plan_gc(entries, keep=0, protect=(), papers={"q"}) == {"0005"}
    assert plan_gc(entries, keep=0, protect={"0" * 64}, papers=None) == set()


# -- the ledger ---------------------------------------------------------------------


def entry(figure: str, when: str, credits: int, task: str | None = None) -> Entry:
    return Entry(
        f"{figure}{when}{task}", "fp", figure, "p", "0" * 64, ".png", 1, How.GENERATED, when, task, credits
    )


def test_ledger_sums_per_figure_month_and_total() -> None:
    result = ledger(
        [
            entry("b", "2026-02-03T00:00:00Z", 4, "t1"),
            entry("a", "2026-01-31T23:59:59Z", 2, "t2"),
            entry("a", "2026-02-01T00:00:00Z", 0),
            entry("a", "2026-02-01T00:00:00Z", 1),
        ]
    )
    assert list(result.by_figure.items()) == [("a", 3), ("b", 4)]
    assert list(result.by_month.items()) == [("2026-01", 2), ("2026-02", 5)]
    assert result.total == 7


def test_ledger_counts_each_task_once() -> None:
    restored = entry("a", "2026-03-01T00:00:00Z", 0, "t1")
    paid = entry("a", "2026-01-01T00:00:00Z", 5, "t1")
    also_in_lock = entry("a", "2026-01-01T00:00:00Z", 5, "t1")
    result = ledger([restored, paid, also_in_lock])
    assert (result.total, dict(result.by_month)) == (5, {"2026-01": 5})
    assert ledger([]).total == 0


def test_index_snapshot_prefers_the_trimmed_copy_of_an_entry() -> None:
    live = entry("a", "2026-01-01T00:00:00Z", 1)
    trimmed = Entry(**{**live.__dict__, "trimmed": True})
    for order in ([live, trimmed], [trimmed, live]):
        index = Index.of(order)
        assert index.entries == (trimmed,)
        assert index.by_fingerprint["fp"] == (trimmed,)


# -- properties ---------------------------------------------------------------------

puts = st.tuples(st.just("put"), st.integers(0, 2), st.integers(0, 5), st.integers(0, 3))
gcs = st.tuples(st.just("gc"), st.integers(0, 3), st.sets(st.integers(0, 5), max_size=3), st.booleans())


def check_invariants(store: Store, trimmed_ids: set[str], corrupted: set[str]) -> None:
    files = object_files(store)
    # Each intact object's bytes hash to its name: so no two objects hold the same bytes.
    named = {p.parent.name + p.name: p for p in files}
    assert all(sha(p.read_bytes()) == name for name, p in named.items() if name not in corrupted)
    for e in store.entries():
        if e.trimmed:
            assert store.lookup(e.fingerprint).count(e) == 0
        else:
            assert e.id not in trimmed_ids, "a trimmed entry came back"
            assert (store.read(e) is None) == (e.sha256 in corrupted), "a live entry lost its bytes"
        for found in store.lookup(e.fingerprint):
            assert sha(store.read(found) or b"") == found.sha256, "lookup offered a wrong image"


def newest_live(store: Store, keep: int) -> set[str]:
    """The ids of each figure's newest ``keep`` live entries."""
    figures = {e.figure for e in store.entries()}
    return {e.id for f in figures for e in [e for e in store.history(f) if not e.trimmed][:keep]}


PUT = st.tuples(st.just("put"), st.integers(0, 2), st.integers(0, 5), st.integers(0, 3))
GC = st.tuples(st.just("gc"), st.integers(0, 3), st.frozensets(st.integers(0, 5), max_size=3), st.booleans())
FLIP = st.tuples(st.just("flip"), st.integers(0, 5))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(PUT, PUT, GC, FLIP), max_size=25))
def test_any_sequence_of_puts_gcs_and_damage_keeps_the_invariants(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store", paper="p", clock=ticking_clock())
        trimmed_ids: set[str] = set()
        corrupted: set[str] = set()  # sha256 of objects whose bytes the test damaged
        for op in ops:
            if op[0] == "put":
                _, figure, data, fingerprint = op
                made = store.put(image(f"{data}"), meta(f"sha256:{fingerprint}", f"fig{figure}"))
                corrupted.discard(made.sha256)  # storing the bytes again repairs them
            elif op[0] == "flip":
                target = sha(image(f"{op[1]}"))
                path = store.object_path(target)
                if path.exists():  # a byte changed, the size kept: only hashing can tell
                    data = bytearray(path.read_bytes())
                    data[-1] = (data[-1] + 1) % 256
                    path.write_bytes(bytes(data))
                    corrupted.add(target)
            else:
                _, keep, protect_ids, dry_run = op
                assert isinstance(keep, int)
                assert isinstance(protect_ids, frozenset)
                protect = {sha(image(f"{i}")) for i in protect_ids}
                must_stay = newest_live(store, keep)
                present = {s for s in protect if store.object_path(s).exists()}
                result = store.gc(keep=keep, protect=protect, dry_run=bool(dry_run))
                assert all(store.object_path(s).exists() for s in present), "a protected object went"
                assert not must_stay & {e.id for e in result.trimmed}, "gc trimmed a version it should keep"
                if not dry_run:
                    trimmed_ids |= {e.id for e in result.trimmed}
                    corrupted -= set(result.removed_objects)
            check_invariants(store, trimmed_ids, corrupted)


@pytest.fixture(autouse=True)
def _no_store_outside_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIGBUILD_STORE from the developer's shell must not leak into these tests."""
    monkeypatch.delenv(STORE_ENV, raising=False)


def test_an_index_file_removed_while_it_is_read_is_a_vanished_file_not_a_foreign_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction may remove a segment between a reader's open and its fstat: the
    reader must take it for a replaced file (and read the index again), not warn that
    the store holds a file that is not its own."""
    from figbuild.store import files

    segment = tmp_path / "seg-1.jsonl"
    segment.write_bytes(b"{}\n")
    real_fstat = os.fstat

    def fstat_after_removal(fd: int) -> os.stat_result:
        segment.unlink(missing_ok=True)  # the compaction's unlink lands here
        return real_fstat(fd)

    monkeypatch.setattr(files.os, "fstat", fstat_after_removal)
    with pytest.raises(FileNotFoundError):
        files.read_own(segment)
