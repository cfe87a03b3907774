"""The remote's interface over a folder: write-once objects, entries as data, claims, no escape."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild.store import Entry, How
from figbuild.store.folder import FolderBucket
from figbuild.store.index import encode
from figbuild.store.remote import (
    Claim,
    Remote,
    Unreachable,
    check_url,
    entry_key,
    object_key,
    parse_claim,
    parse_entry,
)
from figbuild.team import machine_name

FINGERPRINT = "sha256:" + "ab" * 32


def _entry(**changes: object) -> Entry:
    data = b"image bytes"
    entry = Entry(
        id="0001",
        fingerprint=FINGERPRINT,
        figure="fig",
        paper="paper-1",
        sha256=hashlib.sha256(data).hexdigest(),
        suffix=".png",
        size=len(data),
        how=How.GENERATED,
        when="2026-12-03T10:00:00Z",
        task_id="task-1",
        credits=10,
    )
    return replace(entry, **changes)  # type: ignore[arg-type]


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    (tmp_path / "shared").mkdir()
    return Remote(FolderBucket(f"file://{tmp_path / 'shared'}"))


def test_an_object_is_written_once_and_read_back_verified(remote: Remote, tmp_path: Path) -> None:
    data = b"image bytes"
    sha = hashlib.sha256(data).hexdigest()
    remote.put_object(sha, data)
    remote.put_object(sha, data)  # already there: fine
    assert remote.get_object(sha) == data
    (tmp_path / "shared" / object_key(sha)).write_bytes(b"something else")
    assert remote.get_object(sha) is None, "bytes that do not hash to their name are refused"
    with pytest.raises(ValueError, match="not those of their hash"):
        remote.put_object(sha, b"other bytes")


def test_entries_are_one_object_each_and_list_in_one_listing(remote: Remote) -> None:
    first, second = _entry(), _entry(candidate=2, how=How.CANDIDATE, when="2026-12-03T10:00:01Z")
    assert remote.append(first, "laptop-a")
    assert not remote.append(first, "laptop-a"), "the same entry is one object"
    assert remote.append(second, "ci-b")
    listing = remote.list_entries()
    assert remote.requests["list"] == 1
    [keys] = listing.keys.values()
    read = {remote.read_entry(key).machine for key in keys}  # type: ignore[union-attr]
    assert read == {"laptop-a", "ci-b"}


def test_concurrent_appends_lose_no_entry(remote: Remote) -> None:
    entries = [_entry(when=f"2026-12-03T10:00:{i:02d}Z") for i in range(40)]
    threads = [threading.Thread(target=remote.append, args=(entry, "m")) for entry in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(remote.list_entries().all_keys) == 40


@pytest.mark.parametrize(
    "change",
    [
        {"figure": "../../etc/passwd"},
        {"figure": "a/b"},
        {"suffix": "/../x"},
        {"when": "yesterday"},
        {"task_id": "x\x1b[2J"},
        {"fingerprint": "sha256:" + "cd" * 32},  # not the fingerprint its key names
        {"trimmed": True},
    ],
)
def test_an_entry_is_data_checked_before_it_names_anything(change: dict[str, object]) -> None:
    good = _entry()
    body = {"v": 1, "machine": "laptop-a", "line": encode(good).decode().rstrip("\n")}
    assert parse_entry(json.dumps(body).encode(), "ab" * 32, "k") is not None
    bad = {**body, "line": encode(replace(good, **change)).decode().rstrip("\n")}  # type: ignore[arg-type]
    assert parse_entry(json.dumps(bad).encode(), "ab" * 32, "k") is None


def test_an_entry_with_a_damaged_line_or_machine_is_refused() -> None:
    line = encode(_entry()).decode().rstrip("\n")
    for body in (
        {"v": 1, "machine": "m", "line": line.replace("task-1", "task-2")},  # check fails
        {"v": 2, "machine": "m", "line": line},
        {"v": 1, "machine": "../m", "line": line},
        {"v": 1, "machine": "m\x1b", "line": line},
    ):
        assert parse_entry(json.dumps(body).encode(), "ab" * 32, "k") is None


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_as_an_entry_or_a_claim_never_raise(data: bytes) -> None:
    entry = parse_entry(data, "ab" * 32, "k")
    assert entry is None or entry.entry.fingerprint == FINGERPRINT
    claim = parse_claim(data, 3)
    assert claim.gen == 3


def test_a_claim_is_created_once_and_its_owner_rewrites_it(remote: Remote) -> None:
    mine = Claim("laptop-a", "run1", 1.0, beat_at=1.0)
    assert remote.claim(FINGERPRINT, mine)
    assert not remote.claim(FINGERPRINT, replace(mine, machine="ci-b")), "create-if-absent"
    remote.refresh(FINGERPRINT, replace(mine, beat=1, released=True))
    [read] = remote.claims(FINGERPRINT)
    assert read.machine == "laptop-a"
    assert read.released
    assert read.beat == 1


def test_of_two_racing_claims_one_wins(remote: Remote) -> None:
    won: list[bool] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        won.append(remote.claim(FINGERPRINT, Claim(f"m{n}", "r", 1.0)))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 1


def test_a_symlink_in_the_folder_leads_nowhere_outside(remote: Remote, tmp_path: Path) -> None:
    outside = tmp_path / "victim"
    outside.mkdir()
    secret = outside / ("cd" * 31)
    secret.write_bytes(b"not yours")
    shared = tmp_path / "shared"
    (shared / "objects").mkdir()
    (shared / "objects" / "ab").symlink_to(outside)
    data = b"x"
    sha = "ab" + hashlib.sha256(data).hexdigest()[2:]
    with pytest.raises(Unreachable, match="outside the folder"):
        remote.bucket.create(object_key(sha), data)
    assert sorted(p.name for p in outside.iterdir()) == [secret.name], "nothing written outside"
    (shared / "objects" / "cd").mkdir()
    (shared / "objects" / "cd" / ("ef" * 31)).symlink_to(secret)
    assert remote.bucket.get("objects/cd/" + "ef" * 31, 1 << 20) is None, "a symlinked file is not read"


def test_urls_with_credentials_or_unknown_schemes_are_refused() -> None:
    assert check_url("s3://bucket/prefix") is None
    assert check_url("file:///srv/figures") is None
    assert check_url("s3://AKIA:secret@bucket/p") is not None
    assert check_url("http://bucket") is not None
    assert check_url("file://relative/path") is not None


def test_a_machine_name_is_reduced_to_safe_characters() -> None:
    assert machine_name({"FIGBUILD_MACHINE": "alice's laptop\x1b"}) == "alice-s-laptop"
    assert machine_name({"FIGBUILD_MACHINE": "ci"}) == "ci"


def test_entry_keys_do_not_depend_on_the_local_id_or_figure() -> None:
    assert entry_key(_entry()) == entry_key(_entry(id="other", figure="renamed", paper="p2"))
    assert entry_key(_entry()) != entry_key(_entry(candidate=2))
