"""`figbuild disclose` and the disclosure file: every line true against the lock and the store."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from figbuild import engine, fastpath, history
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.digests import sha256_file
from figbuild.disclosure.text import latex_escape
from figbuild.emulator import Emulator
from figbuild.images import encode
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import How, Store

from .conftest import PaperFactory, simple_manifest

FAST = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))


def sync(server: Emulator, root: Path, *, makes: str = "generated", **options: Any) -> engine.SyncResult:
    """A sync against ``server`` served as the real API (``makes="emulator"``: as `--emulator`)."""
    with Client(Settings(base_url=server.base_url, key="sk-disclose")) as client:
        return engine.sync(Paper.open(root), ApiBackend(client, FAST, makes=makes), NullReporter(), **options)


def placeholders(root: Path, *ids: str) -> None:
    engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter(), ids=ids)


def as_json(run_cli: Any, root: Path) -> dict[str, Any]:
    result = run_cli("disclose", "--format", "json", root=root)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def drop_xmp_edit(path: Path) -> None:
    """A hand edit in an editor that drops the XMP packet (Pillow re-saves without it)."""
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        path.write_bytes(encode(image.convert("RGB").rotate(180), "PNG"))


MIXED = simple_manifest(
    gen_one={"prompt": "Generated", "mode": "standard", "resolution": "2K"},
    picked={"prompt": "Picked", "mode": "standard", "candidates": 3, "model": "nano-banana"},
    restored={"prompt": "Restored", "mode": "standard"},
    accepted={"prompt": "Accepted", "mode": "standard"},
    kept_edit={"prompt": "Kept", "mode": "standard"},
    ph={"prompt": "Placeholder", "mode": "standard"},
    emu={"prompt": "Emulated", "mode": "standard"},
)


def mixed_paper(make_paper: PaperFactory, emulator: Emulator) -> Path:
    """Figures generated, picked, restored, accepted after a hand edit, edited by hand and
    kept, a placeholder and an emulator image."""
    root = make_paper(MIXED)
    sync(emulator, root, ids=("gen_one", "picked", "restored", "accepted", "kept_edit"))
    history.pick(Paper.open(root), "picked", 2)
    sync(emulator, root, ids=("restored",), force=True)
    history.restore(Paper.open(root), "restored", 1)
    drop_xmp_edit(root / "figures/accepted.png")
    history.accept(Paper.open(root), ["accepted"])
    drop_xmp_edit(root / "figures/kept_edit.png")
    placeholders(root, "ph")
    sync(emulator, root, makes="emulator", ids=("emu",))
    return root


def test_disclose_on_a_mixed_paper_says_only_what_the_lock_and_the_store_say(
    make_paper: PaperFactory, emulator: Emulator, run_cli: Any
) -> None:
    root = mixed_paper(make_paper, emulator)
    document = as_json(run_cli, root)
    items = {item["id"]: item for item in document["figures"]}
    assert set(items) == {"gen_one", "picked", "restored", "accepted", "kept_edit"}
    assert {row["id"]: row["image"] for row in document["not_generated"]} == {
        "ph": "placeholder",
        "emu": "emulator",
    }
    lock = read(root / "figures.lock")
    store = Store.at(root)
    made = {e.sha256: e for e in store.entries() if e.how in (How.GENERATED, How.CANDIDATE)}
    expected_how = {
        "gen_one": "generated",
        "picked": "candidate",
        "restored": "restored",
        "accepted": "accepted hand edit",
        "kept_edit": "hand edit kept",
    }
    for figure_id, item in items.items():
        record = lock.record(figure_id).generated
        assert record is not None
        assert item["how"] == expected_how[figure_id]
        assert item["output"] == record.output
        assert item["model"] == (record.model or MIXED["figures"][figure_id].get("model", "nano-banana-pro"))
        assert item["edited"] == (figure_id in ("accepted", "kept_edit"))
        if not item["edited"]:
            # The image in place is one the API made: its task and time are the store's.
            origin = made[sha256_file(root / record.output) or ""]
            assert item["task_id"] == origin.task_id
            assert item["model"] == origin.model
            assert item["resolution"] == origin.resolution
    assert items["gen_one"]["resolution"] == "2K"
    assert (items["picked"]["candidate"], items["picked"]["candidates"]) == (2, 3)
    assert items["picked"]["model"] == "nano-banana"
    assert items["restored"]["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert items["kept_edit"]["digital_source_type"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert document["models"] == ["nano-banana-pro", "nano-banana"]

    text = run_cli("disclose", root=root)
    assert "placeholder" in text.stderr
    assert "ph (placeholder)" in text.stderr
    assert "emu (emulator image)" in text.stderr
    assert "candidate 2 of 3" in text.stdout
    assert r"\texttt{gen\_one}" in text.stdout, "LaTeX special characters are escaped"
    assert "emu" not in text.stdout.replace("emulator", "")
    assert "reviewed every figure" in text.stdout


def test_the_latex_statement_compiles(make_paper: PaperFactory, emulator: Emulator, run_cli: Any) -> None:
    if shutil.which("pdflatex") is None or shutil.which("pdftotext") is None:
        pytest.skip("needs pdflatex and pdftotext (texlive-latex-recommended, poppler-utils)")
    root = mixed_paper(make_paper, emulator)
    assert run_cli("disclose", "-o", str(root / "ai.tex"), root=root).exit_code == 0
    (root / "doc.tex").write_text(
        # T1 (with lmodern's fonts): an underscore is a glyph pdftotext reads back (OT1 draws a rule).
        "\\documentclass{article}\n\\usepackage{lmodern}\n\\usepackage[T1]{fontenc}\n\\begin{document}\n\\input{ai}\n\\end{document}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    text = subprocess.run(["pdftotext", "doc.pdf", "-"], cwd=root, capture_output=True, text=True).stdout
    assert "gen_one" in text
    assert "kept_edit" in text


def test_the_markdown_statement_renders_with_pandoc(
    make_paper: PaperFactory, emulator: Emulator, run_cli: Any
) -> None:
    if shutil.which("pandoc") is None:
        pytest.skip("needs pandoc")
    root = mixed_paper(make_paper, emulator)
    result = run_cli("disclose", "--format", "markdown", root=root)
    html = subprocess.run(
        ["pandoc", "-f", "markdown", "-t", "html"], input=result.stdout, capture_output=True, text=True
    )
    assert html.returncode == 0, html.stderr
    assert "<strong>Use of generative AI.</strong>" in html.stdout
    assert "<code>gen_one</code>" in html.stdout
    assert html.stdout.count("<li>") == 5


def test_latex_escaping_covers_every_special_character() -> None:
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\k") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )


# -- the disclosure file --------------------------------------------------------


def with_output(root: Path, output: str = "ai-disclosure.tex", **extra: str) -> None:
    document = yaml.safe_load((root / "figures.yaml").read_text())
    document["disclosure"] = {"output": output, **extra}
    (root / "figures.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def status_rows(run_cli: Any, root: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("status", "--json", root=root)
    return {row["id"]: row for row in json.loads(result.stdout)}


def test_sync_keeps_the_file_current_and_status_checks_it(
    make_paper: PaperFactory, emulator: Emulator, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_paper(
        simple_manifest(a={"prompt": "A", "mode": "standard"}, b={"prompt": "B", "mode": "standard"})
    )
    with_output(root)
    statement = root / "ai-disclosure.tex"
    assert status_rows(run_cli, root)["disclosure"]["state"] == "missing"
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-disclose")
    assert run_cli("sync", root=root).exit_code == 0
    first = statement.read_text()
    row = status_rows(run_cli, root)["disclosure"]
    assert (row["state"], row["kind"], row["output"]) == ("fresh", "disclosure", "ai-disclosure.tex")
    assert run_cli("status", "--check", root=root).exit_code == 0
    assert "ai-disclosure.tex" in run_cli("deps", root=root).stdout.split()
    # A no-op sync leaves the file alone (latexmk sees no change).
    before = statement.stat()
    assert run_cli("sync", root=root).exit_code == 0
    assert (statement.stat().st_ino, statement.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A figure regenerated elsewhere (another run, a co-author's lock): stale until a sync.
    sync(emulator, root, ids=("a",), force=True)
    row = status_rows(run_cli, root)["disclosure"]
    assert row["state"] == "stale"
    assert "disclosure stale" in row["reasons"][0]
    assert "disclosure" in run_cli("status", root=root).stdout
    assert run_cli("status", "--check", root=root).exit_code == 1
    assert run_cli("sync", root=root).exit_code == 0
    task = read(root / "figures.lock").record("a").generated.task_id  # type: ignore[union-attr]
    assert task is not None
    assert task in statement.read_text()
    assert statement.read_text() != first
    # A hand edit: status --check fails, sync keeps it, sync --force rewrites it.
    statement.write_text(statement.read_text().replace("reviewed", "glanced at"))
    assert status_rows(run_cli, root)["disclosure"]["state"] == "modified"
    check = run_cli("status", "--check", root=root)
    assert check.exit_code == 1
    assert "ai-disclosure.tex" in check.stderr
    kept = run_cli("sync", root=root)
    assert "edited by hand" in kept.stderr
    assert "glanced at" in statement.read_text()
    assert run_cli("sync", "--force", "b", root=root).exit_code == 0
    assert "glanced at" not in statement.read_text()
    assert status_rows(run_cli, root)["disclosure"]["state"] == "fresh"


def test_best_effort_writes_the_file_with_placeholders(make_paper: PaperFactory, run_cli: Any) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A", "mode": "standard"}))
    with_output(root, "ai-disclosure.md")
    result = run_cli("sync", "--best-effort", root=root)  # no key: a placeholder
    assert result.exit_code == 0
    text = (root / "ai-disclosure.md").read_text()
    assert text.startswith("<!-- figbuild-disclosure ")
    assert "No figure in this paper was generated" in text
    assert status_rows(run_cli, root)["disclosure"]["state"] == "fresh"


def test_a_template_words_it_in_the_prompt_sandbox(
    make_paper: PaperFactory, emulator: Emulator, run_cli: Any
) -> None:
    root = make_paper(simple_manifest(fig_a={"prompt": "A", "mode": "standard"}))
    (root / "venue.j2").write_text(
        "\\section*{AI statement}\n{% for f in figures %}{{ esc(f.id) }} by {{ f.model }}; {% endfor %}"
        "figbuild {{ figbuild_version }}\n"
    )
    with_output(root, template="venue.j2")
    sync(emulator, root)
    result = run_cli("disclose", root=root)
    assert result.stdout.startswith("\\section*{AI statement}\nfig\\_a by nano-banana-pro; figbuild ")
    # Editing the template makes the file stale.
    assert run_cli("sync", root=root).exit_code == 0
    (root / "venue.j2").write_text("{{ default }}")
    assert status_rows(run_cli, root)["disclosure"]["state"] == "stale"
    # The sandbox refuses what it refuses in prompts.
    (root / "venue.j2").write_text("{{ esc.__globals__ }}")
    refused = run_cli("disclose", root=root)
    assert refused.exit_code == 2
    assert "disclosure template" in refused.stderr


def test_a_disclosure_output_that_is_not_tex_or_md_is_a_manifest_problem(
    make_paper: PaperFactory, run_cli: Any
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A", "mode": "standard"}))
    with_output(root, "ai.txt")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "not a .tex or .md file" in result.stderr


def test_the_fast_path_sees_a_hand_edit_of_the_file(make_paper: PaperFactory, run_cli: Any) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A", "mode": "standard"}))
    with_output(root)
    assert run_cli("sync", "--best-effort", root=root).exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != fastpath.DISABLE_ENV}
    time.sleep(fastpath.RACY_NS / 1e9 + 0.2)  # files older than the racy window may be snapshotted

    def status() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "figbuild", "-C", str(root), "status"],
            env=env,
            capture_output=True,
            text=True,
        )
        return done.stdout

    assert "disclosure  fresh" in status()
    assert "disclosure  fresh" in status()  # replayed, most likely
    statement = root / "ai-disclosure.tex"
    statement.write_text(statement.read_text() + "% a note\n")
    assert "disclosure  modified" in status()


def test_status_with_a_disclosure_file_still_loads_no_heavy_module(make_paper: PaperFactory) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A", "mode": "standard"}))
    (root / "venue.j2").write_text("{{ default }}")
    with_output(root, template="venue.j2")
    probe = (
        "import atexit, sys\n"
        "heavy = ('requests', 'PIL', 'watchdog', 'jinja2', 'jsonschema', 'yaml', 'pikepdf')\n"
        "atexit.register(lambda: print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr))\n"
        "from figbuild.cli import main\n"
        f"main(['-C', {str(root)!r}, 'status'])\n"
    )
    subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)  # caches the manifest
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "disclosure  missing" in warm.stdout
    assert warm.stderr.strip() == "[]"


def test_a_disclosure_file_a_figure_would_read_as_content_is_refused(
    make_paper: PaperFactory, run_cli: Any
) -> None:
    root = make_paper(
        simple_manifest(a={"prompt": "A", "content": "*.tex"}), {"main.tex": "\\section{A}\nText.\n"}
    )
    with_output(root, "ai-disclosure.tex")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "would be read as content by figure 'a'" in result.stderr
