"""Provenance inside the images figbuild writes: XMP that standard tools (exiftool) read."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from figbuild import engine, history, provenance
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.digests import sha256_file
from figbuild.emulator import Emulator
from figbuild.images import encode
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import How, Store

from .conftest import PaperFactory, simple_manifest

FAST = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))
FACTS = provenance.Provenance(
    "generated",
    model="nano-banana-pro",
    task_id="task-1_a",
    fingerprint="sha256:" + "ab" * 32,
    generated_at="2026-12-03T11:00:00Z",
    resolution="2K",
)


def sync(server: Emulator, root: Path, *, makes: str = "generated", **options: Any) -> engine.SyncResult:
    """A sync against ``server`` as the real API (``makes="emulator"``: as `--emulator`)."""
    with Client(Settings(base_url=server.base_url, key="sk-provenance")) as client:
        backend = ApiBackend(client, FAST, makes=makes)
        return engine.sync(Paper.open(root), backend, NullReporter(), **options)


def three_formats(make_paper: PaperFactory) -> Path:
    return make_paper(
        simple_manifest(
            png={"prompt": "A png", "mode": "standard"},
            jpg={"prompt": "A jpeg", "mode": "standard", "output": "figures/jpg.jpg"},
            pdf={"prompt": "A pdf", "mode": "standard", "output": "figures/pdf.pdf", "model": "nano-banana"},
        )
    )


def exiftool(*paths: Path) -> list[dict[str, Any]]:
    if shutil.which("exiftool") is None:
        pytest.skip("needs exiftool (apt-get install libimage-exiftool-perl)")
    out = subprocess.run(
        ["exiftool", "-json", "-XMP:all", *map(str, paths)], capture_output=True, text=True, check=True
    ).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "PDF"])
def test_a_stamp_is_read_back_and_stamping_again_changes_nothing(fmt: str) -> None:
    data = encode(Image.new("RGB", (40, 30), "teal"), fmt)
    stamped = provenance.stamp(data, fmt, FACTS)
    assert provenance.read(stamped) == FACTS
    assert provenance.stamp(stamped, fmt, FACTS) == stamped, "deterministic and idempotent"
    assert provenance.read(data) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_stamping_keeps_every_pixel(fmt: str) -> None:
    image = Image.effect_noise((64, 48), 80).convert("RGB")
    data = encode(image, fmt)
    stamped = provenance.stamp(data, fmt, FACTS)
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(stamped)) as after:
        assert before.tobytes() == after.tobytes()


def test_a_new_stamp_replaces_the_old_one_rather_than_adding_a_second() -> None:
    data = provenance.stamp(encode(Image.new("RGB", (8, 8)), "JPEG"), "JPEG", FACTS)
    edited = provenance.stamp(data, "JPEG", provenance.edited(FACTS))
    assert edited.count(b"<x:xmpmeta") == 1
    found = provenance.read(edited)
    assert found is not None
    assert found.source_type == provenance.COMPOSITE
    assert found.model == FACTS.model


@given(st.text(max_size=40), st.text(max_size=40))
@settings(max_examples=60, deadline=None)
def test_any_model_and_task_text_survives_the_round_trip(model: str, task: str) -> None:
    clean = "".join(c for c in model + task if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    facts = provenance.Provenance("generated", model=clean[: len(model)] or None, task_id=clean or None)
    stamped = provenance.stamp(encode(Image.new("RGB", (4, 4)), "PNG"), "PNG", facts)
    found = provenance.read(stamped)
    assert found is not None
    assert (found.model, found.task_id) == (facts.model, facts.task_id)


def test_exiftool_reads_source_type_model_and_task_from_what_a_real_sync_wrote(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = three_formats(make_paper)
    assert sorted(sync(emulator, root).generated) == ["jpg", "pdf", "png"]
    lock = read(root / "figures.lock")
    files = {fid: root / lock.record(fid).generated.output for fid in ("png", "jpg", "pdf")}  # type: ignore[union-attr]
    rows = {Path(row["SourceFile"]).name: row for row in exiftool(*files.values())}
    for figure_id, path in files.items():
        record = lock.record(figure_id).generated
        assert record is not None
        row = rows[path.name]
        assert row["DigitalSourceType"] == provenance.TRAINED
        assert row["Model"] == record.model
        assert row["TaskId"] == record.task_id
        assert row["Fingerprint"] == record.fingerprint
        # The lock records the bytes written, stamp included.
        assert sha256_file(path) == record.sha256
    assert rows["pdf.pdf"]["Model"] == "nano-banana"


def test_placeholders_and_emulator_images_carry_a_provisional_mark_and_no_ai_source_type(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = three_formats(make_paper)
    with Client(Settings(base_url=emulator.base_url, key="sk-provenance")):
        engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter(), ids=("png", "pdf"))
    sync(emulator, root, makes="emulator", ids=("jpg",))
    rows = {Path(row["SourceFile"]).stem: row for row in exiftool(*(root / "figures").iterdir())}
    assert rows["png"]["Provisional"] == "placeholder"
    assert rows["pdf"]["Provisional"] == "placeholder"
    assert rows["jpg"]["Provisional"] == "emulator"
    assert all("DigitalSourceType" not in row for row in rows.values())
    assert all("Model" not in row and "AISystemUsed" not in row for row in rows.values())


def test_a_restored_image_is_the_stored_bytes_so_history_and_the_lock_agree(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A figure", "mode": "standard"}))
    sync(emulator, root)
    first = (root / "figures/a.png").read_bytes()
    sync(emulator, root, force=True)
    history.restore(Paper.open(root), "a", 1)
    assert (root / "figures/a.png").read_bytes() == first
    record = read(root / "figures.lock").record("a").generated
    assert record is not None
    assert record.how == "restored"
    assert record.sha256 == sha256_file(root / "figures/a.png")
    shas = {entry.sha256 for entry in Store.at(root).history("a")}
    assert record.sha256 in shas, "no second object for the same image"


def test_an_accepted_hand_edit_of_a_generated_image_is_written_back_as_a_composite(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A figure", "mode": "standard"}))
    sync(emulator, root)
    target = root / "figures/a.png"
    generated = provenance.read(target.read_bytes())
    # An editor that keeps the XMP packet while changing pixels.
    data = target.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        edited = encode(image.convert("RGB").rotate(90), "PNG")
    assert generated is not None
    target.write_bytes(provenance.stamp(edited, "PNG", generated))
    history.accept(Paper.open(root), ["a"])
    sync(emulator, root, force=True)  # a new image; the accepted edit stays in history
    versions = history.versions(Store.at(root), "a", read(root / "figures.lock").record("a").generated)
    accepted = next(v for v in versions if v.entry.how is How.ACCEPTED)
    history.restore(Paper.open(root), "a", accepted.number)
    rows = exiftool(target)
    assert rows[0]["DigitalSourceType"] == provenance.COMPOSITE
    assert rows[0]["TaskId"] == generated.task_id
    record = read(root / "figures.lock").record("a").generated
    assert record is not None
    assert record.sha256 == sha256_file(target)


def test_a_file_is_read_without_reading_its_image_data(tmp_path: Path) -> None:
    """Chunks and segments are walked: an XMP chunk after the pixels (as some editors write
    it) is found, and a JPEG's packet is read from its header segments."""
    stamped = provenance.stamp(encode(Image.effect_noise((300, 200), 60).convert("RGB"), "PNG"), "PNG", FACTS)
    packet_at = stamped.index(b"iTXt") - 4
    (length,) = struct.unpack(">I", stamped[packet_at : packet_at + 4])
    chunk = stamped[packet_at : packet_at + 12 + length]
    rest = stamped[:packet_at] + stamped[packet_at + 12 + length :]
    moved = rest[:-12] + chunk + rest[-12:]  # before IEND, after every IDAT
    (tmp_path / "late.png").write_bytes(moved)
    assert provenance.read_file(tmp_path / "late.png") == FACTS
    (tmp_path / "a.jpg").write_bytes(
        provenance.stamp(encode(Image.new("RGB", (9, 9)), "JPEG"), "JPEG", FACTS)
    )
    assert provenance.read_file(tmp_path / "a.jpg") == FACTS
    (tmp_path / "plain.png").write_bytes(encode(Image.new("RGB", (9, 9)), "PNG"))
    assert provenance.read_file(tmp_path / "plain.png") is None
    assert provenance.read_file(tmp_path / "absent.png") is None
