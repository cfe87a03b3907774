"""The content rules end to end, on papers shaped like real ones, against the emulator.

tests/corpus/ holds four small papers written for these tests in the layouts
people use: Overleaf (main.tex with headings, bodies \\input from sections/), a
\\subfile/\\subimport book, a JOSS paper.md with YAML front matter and a Quarto
.qmd. For each rule: an edit to text the rule drops leaves every figure fresh
and sends nothing; an edit to prose regenerates exactly the figures that use
it. Both are read from the emulator's own records, not from what figbuild says.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.cache import Cache
from figbuild.content import ContentReader
from figbuild.digests import StatCache
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.manifest import ContentSource
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.state import State

from .conftest import EmulatorFactory

CORPUS = Path(__file__).parent / "corpus"
FAST_POLL = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))
RunCli = Callable[..., Result]

FIGURES: dict[str, Any] = {
    "method": {"file": "overleaf/main.tex", "section": "Method"},
    "encoder": {"file": "overleaf/main.tex", "section": "Method/Encoder"},
    "intro": {"file": "overleaf/main.tex", "section": "introduction"},
    "exp-setup": {"file": "overleaf/main.tex", "label": "sec:exp-setup"},
    "experiments": "overleaf/sections/experiments.tex",
    "need": {"file": "joss/paper.md", "section": "Statement of need"},
    "summary": {"file": "joss/paper.md", "section": "summary"},
    "q-method": {"file": "quarto/paper.qmd", "label": "sec-method"},
    "q-results": {"file": "quarto/paper.qmd", "section": "Results"},
    "theory": {"file": "subfiles/main.tex", "section": "Theory"},
    "proofs": {"file": "subfiles/main.tex", "section": "Proof of the Bound"},
}


def manifest() -> dict[str, Any]:
    return {
        "version": 1,
        "figures": {
            name: {"prompt": f"Figure {name}", "content": content} for name, content in FIGURES.items()
        },
    }


def run_sync(server: Emulator, root: Path) -> engine.SyncResult:
    settings = Settings(base_url=server.base_url, key="sk-test-key", window=60.0)
    with Client(settings) as client:
        return engine.sync(Paper.open(root), ApiBackend(client, FAST_POLL), NullReporter())


def generated(server: Emulator) -> set[str]:
    """The figures the emulator was asked to draw, by their prompts."""
    return {task["prompt"].removeprefix("Figure ") for task in server.tasks()}


@pytest.fixture(scope="module")
def synced_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The corpus with every figure generated once (shared: each test copies it)."""
    root = tmp_path_factory.mktemp("corpus") / "paper"
    shutil.copytree(CORPUS, root)
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest(), sort_keys=False), encoding="utf-8")
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        result = run_sync(server, root)
        assert not result.failed, result.failed
        assert generated(server) == set(FIGURES)
    return root


@pytest.fixture
def paper(synced_corpus: Path, tmp_path: Path) -> Path:
    root = tmp_path / "paper"
    shutil.copytree(synced_corpus, root)
    return root


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.05)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


DROPPED = {
    "latex comment": (
        "overleaf/sections/method.tex",
        "% Method section: keep it short.",
        "% Rewritten note.",
    ),
    "comment environment": (
        "overleaf/sections/method.tex",
        "An older derivation that we dropped.",
        "A different old derivation.",
    ),
    "iffalse": ("overleaf/sections/method.tex", "A paragraph the authors switched off.", "Off, reworded."),
    "todo": (
        "overleaf/sections/intro.tex",
        "\\todo{Add numbers to the contributions.}",
        "\\todo{Cite more.}",
    ),
    "missingfigure": (
        "overleaf/sections/method.tex",
        "\\missingfigure{Loss curves.}",
        "\\missingfigure{Plots.}",
    ),
    "figure caption": ("overleaf/sections/intro.tex", "Teaser: depth and colour", "Teaser, reworded: depth"),
    "figure* caption": ("overleaf/sections/method.tex", "Overview of the encoder", "Sketch of the encoder"),
    "wrapfigure caption": (
        "overleaf/sections/experiments.tex",
        "\\caption{Ablation.}",
        "\\caption{Ablation study.}",
    ),
    "placing a figure": (
        "overleaf/sections/method.tex",
        "\\subsection{Fusion}",
        "\\begin{figure}[h]\n\\includegraphics{figures/method.png}\n\\caption{Method.}\n\\end{figure}\n\n"
        "\\subsection{Fusion}",
    ),
    "stray includegraphics": (
        "overleaf/sections/method.tex",
        "with two ResNet branches.",
        "with two ResNet branches.\n\\includegraphics[width=2cm]{figures/logo.png}",
    ),
    "latex ignore region": ("overleaf/sections/method.tex", "check the warp direction.", "check the sign."),
    "subfile preamble": (
        "subfiles/chapters/theory.tex",
        "\\documentclass[../main.tex]{subfiles}",
        "\\documentclass[../main.tex]{subfiles}\n\\usepackage{amsmath}",
    ),
    "front matter": ("joss/paper.md", "date: 1 January 2026", "date: 2 January 2026"),
    "front matter comment": ("joss/paper.md", "  # depth sensing", "  # Statement of need"),
    "html comment": ("joss/paper.md", "Reviewers asked for a shorter summary.", "Reviewers were happy."),
    "image line": ("joss/paper.md", "Overview of the flowfuse pipeline.", "The flowfuse pipeline."),
    "figure div": ("quarto/paper.qmd", "The architecture.", "The whole architecture."),
    "markdown ignore region": ("quarto/paper.qmd", "Draft paragraph, not ready.", "Still a draft."),
    "quarto figure image": ("quarto/paper.qmd", "Feature distance by depth.", "Distance by depth."),
}

PROSE = {
    "included section body": (
        "overleaf/sections/method.tex",
        "with two ResNet branches.",
        "with two ViT branches.",
        {"method", "encoder"},
    ),
    "equation": ("overleaf/sections/method.tex", "F = F_c +", "F = 2 F_c +", {"method"}),
    "labelled subsection": (
        "overleaf/sections/experiments.tex",
        "the same splits",
        "identical splits",
        {"exp-setup", "experiments"},
    ),
    "table input from a section": (
        "overleaf/tables/results.tex",
        "52.3",
        "53.1",
        {"exp-setup", "experiments"},
    ),
    "heading title in main.tex": (
        "overleaf/main.tex",
        "\\section{Introduction}",
        "\\section{INTRODUCTION}",
        {"intro"},
    ),
    "joss section": ("joss/paper.md", "noisy at object boundaries", "noisy at edges", {"need"}),
    "quarto subsection": ("quarto/paper.qmd", "100 epochs", "200 epochs", {"q-method"}),
    "subfile body": (
        "subfiles/chapters/theory.tex",
        "Repeated averaging",
        "Repeated mean aggregation",
        {"theory"},
    ),
    "subimported input": (
        "subfiles/appendix/lemma.tex",
        "is a contraction",
        "is a strict contraction",
        {"proofs"},
    ),
}


@pytest.mark.parametrize("case", DROPPED, ids=list(DROPPED))
def test_an_edit_to_dropped_text_sends_nothing(case: str, paper: Path, emulator: Emulator) -> None:
    file, old, new = DROPPED[case]
    edit(paper / file, old, new)
    opened = Paper.open(paper)
    statuses = opened.statuses(opened.resolve(), opened.read_lock())
    assert {s.id: s.state for s in statuses} == dict.fromkeys(FIGURES, State.FRESH)
    assert run_sync(emulator, paper).plan.empty
    assert emulator.records() == [], "not a single request"


@pytest.mark.parametrize("case", PROSE, ids=list(PROSE))
def test_an_edit_to_prose_regenerates_exactly_its_figures(case: str, paper: Path, emulator: Emulator) -> None:
    file, old, new, figures = PROSE[case]
    edit(paper / file, old, new)
    result = run_sync(emulator, paper)
    assert not result.failed, result.failed
    assert generated(emulator) == figures
    assert sorted(result.generated) == sorted(figures)


def test_a_reason_names_the_included_file_that_changed(paper: Path, run_cli: RunCli) -> None:
    edit(paper / "overleaf/sections/method.tex", "two ResNet branches", "two ViT branches")
    result = run_cli("status", "--json", root=paper)
    reasons = {row["id"]: row["reasons"] for row in json.loads(result.stdout)}
    assert reasons["encoder"] == [
        "content overleaf/main.tex#Method/Encoder changed (in overleaf/sections/method.tex)"
    ]
    assert reasons["intro"] == []


def test_a_change_of_content_rules_is_its_own_reason(paper: Path, run_cli: RunCli) -> None:
    # As a lock made under older rules reads: other content digests, so another request.
    lock = json.loads((paper / "figures.lock").read_text())
    for record in lock["figures"].values():
        generated = record["generated"]
        generated["parts"]["content_rules"] = "1"
        generated["parts"].update({k: "0" * 64 for k in generated["parts"] if k.startswith("content:")})
        generated["fingerprint"] = "sha256:" + "0" * 64
    (paper / "figures.lock").write_text(json.dumps(lock))
    result = run_cli("status", "--json", root=paper)
    reasons = {row["id"]: row["reasons"] for row in json.loads(result.stdout)}
    # (Each image for the current rules is also in history: status says so, before the reason.)
    changes = {key: [r for r in why if "in history" not in r] for key, why in reasons.items()}
    assert changes == {key: ["content rules changed"] for key in FIGURES}


def test_new_rules_that_send_the_same_text_restale_nothing(paper: Path, run_cli: RunCli) -> None:
    lock = json.loads((paper / "figures.lock").read_text())
    for record in lock["figures"].values():
        record["generated"]["parts"]["content_rules"] = "1"
    (paper / "figures.lock").write_text(json.dumps(lock))
    result = run_cli("status", "--json", root=paper)
    assert {row["id"]: row["state"] for row in json.loads(result.stdout)} == dict.fromkeys(FIGURES, "fresh")


def test_show_prints_what_would_be_sent_with_sources(paper: Path, run_cli: RunCli) -> None:
    result = run_cli("show", "method", root=paper)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "prompt:\n  Figure method" in out
    assert (
        "--- part 1: overleaf/main.tex#Method (overleaf/main.tex:17-18, overleaf/sections/method.tex:2-"
        in out
    )
    assert "two ResNet branches" in out
    assert "Overview of the encoder" not in out  # the figure* caption is not sent
    as_json = json.loads(run_cli("show", "method", "--json", root=paper).stdout)
    assert as_json["content"][0]["sources"][0] == "overleaf/main.tex:17-18"
    assert as_json["content_length"] == len(as_json["content"][0]["text"])


def test_diff_shows_what_changed_since_the_image(paper: Path, run_cli: RunCli) -> None:
    result = run_cli("diff", "encoder", root=paper)
    assert (result.exit_code, result.stdout) == (0, "")
    edit(paper / "overleaf/sections/method.tex", "two ResNet branches", "two ViT branches")
    result = run_cli("diff", "encoder", root=paper)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["--- encoder (image of " + lines[0].split("(image of ")[1], "+++ encoder (now)"]
    removed = [line for line in lines[2:] if line.startswith("-")]
    added = [line for line in lines[2:] if line.startswith("+")]
    # Whole sentences, however the source was wrapped.
    assert [
        line.endswith("The encoder maps depth and colour to a shared feature space with two ResNet branches.")
        for line in removed
    ] == [True]
    assert [line.endswith("with two ViT branches.") for line in added] == [True]


def test_diff_without_a_record_says_why(paper: Path, run_cli: RunCli) -> None:
    shutil.rmtree(paper / ".figbuild" / "sent")
    result = run_cli("diff", "encoder", root=paper)
    assert result.exit_code == 2
    assert "no record of what figure 'encoder' was made from" in result.stderr


def test_the_stat_cache_checks_every_included_file(tmp_path: Path) -> None:
    import os
    import time

    root = tmp_path / "paper"
    shutil.copytree(CORPUS / "overleaf", root)
    old = time.time_ns() - 10**10
    for path in root.rglob("*.tex"):
        os.utime(path, ns=(old, old))
    cache = Cache(None)
    source = ContentSource("main.tex", "Method")
    (first,) = ContentReader(root, StatCache(cache, "content")).parts(source)
    (cached,) = ContentReader(root, StatCache(cache, "content")).parts(source)
    assert cached.text is None, "nothing changed: nothing read"
    assert (cached.digest, cached.sources) == (first.digest, first.sources)
    method = root / "sections/method.tex"
    method.write_text(method.read_text().replace("ResNet", "ViT"))
    os.utime(method, ns=(old + 10**9, old + 10**9))
    (changed,) = ContentReader(root, StatCache(cache, "content")).parts(source)
    assert changed.text is not None
    assert changed.digest != first.digest


def test_validate_warns_about_empty_content(paper: Path, run_cli: RunCli) -> None:
    (paper / "empty.tex").write_text("% nothing but a comment\n\\begin{figure}x\\end{figure}\n")
    document = manifest()
    document["figures"]["empty"] = {"prompt": "Empty", "content": "empty.tex"}
    (paper / "figures.yaml").write_text(yaml.safe_dump(document))
    result = run_cli("validate", root=paper)
    assert result.exit_code == 0, result.output
    assert "warning: figure 'empty': its content is empty" in result.stderr


def test_keep_figures_is_a_manifest_option(paper: Path, run_cli: RunCli) -> None:
    document = manifest()
    document["figures"]["intro"]["keep_figures"] = True
    (paper / "figures.yaml").write_text(yaml.safe_dump(document))
    shown = json.loads(run_cli("show", "intro", "--json", root=paper).stdout)
    assert "Teaser: depth and colour" in shown["content"][0]["text"]
    reasons = {
        row["id"]: row["reasons"] for row in json.loads(run_cli("status", "--json", root=paper).stdout)
    }
    assert reasons["intro"] == [
        "content overleaf/main.tex#introduction changed (in overleaf/sections/intro.tex)"
    ]
    assert reasons["method"] == []


def test_section_and_label_together_are_refused(paper: Path, run_cli: RunCli) -> None:
    document = manifest()
    document["figures"]["intro"]["content"] = {"file": "overleaf/main.tex", "section": "Method", "label": "x"}
    (paper / "figures.yaml").write_text(yaml.safe_dump(document))
    result = run_cli("validate", root=paper)
    assert result.exit_code == 2
    assert "figure 'intro', key 'content': has both section and label; give one of them" in result.stderr


def test_validate_warns_about_a_section_of_unfollowable_inputs(paper: Path, run_cli: RunCli) -> None:
    (paper / "macro.tex").write_text(
        "\\newcommand{\\secdir}{sections}\n\\section{Method}\n\\label{sec:m}\n\\input{\\secdir/method}\n"
    )
    document = manifest()
    document["figures"]["macro"] = {"prompt": "Macro", "content": {"file": "macro.tex", "section": "Method"}}
    (paper / "figures.yaml").write_text(yaml.safe_dump(document))
    result = run_cli("validate", root=paper)
    assert result.exit_code == 0, result.output
    assert "warning: figure 'macro': macro.tex#Method is mostly include commands figbuild cannot follow" in (
        result.stderr
    )


@pytest.mark.slow
def test_a_no_op_status_reads_no_latex(synced_corpus: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    root = tmp_path / "paper"
    shutil.copytree(synced_corpus, root)
    old = time.time_ns() - 10**10
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".tex", ".md", ".qmd"):
            os.utime(path, ns=(old, old))
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('figbuild.content.rules' in sys.modules, file=sys.stderr))\n"
        "from figbuild.cli import main\n"
        f"main(['-C', {str(root)!r}, 'status', '--check'])\n"
    )
    cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (cold.returncode, warm.returncode) == (0, 0), cold.stderr
    assert (cold.stderr.strip(), warm.stderr.strip()) == ("True", "False"), (
        "warm: every part from the stat cache"
    )
    assert warm.stdout == cold.stdout


def test_a_reason_does_not_repeat_the_named_file(paper: Path, run_cli: RunCli) -> None:
    edit(paper / "overleaf/main.tex", "\\section{Introduction}", "\\section{INTRODUCTION}")
    reasons = {
        row["id"]: row["reasons"] for row in json.loads(run_cli("status", "--json", root=paper).stdout)
    }
    assert reasons["intro"] == ["content overleaf/main.tex#introduction changed"]


def _as_made_under_the_previous_rules(paper: Path, changed: set[str]) -> None:
    """The lock as figbuild with content rules 2 wrote it: content digests of the text sent.
    The figures in ``changed`` had another text sent then (another fingerprint)."""
    opened = Paper.open(paper)
    current = {item.figure.id: item for item in opened.resolve()}
    lock = json.loads((paper / "figures.lock").read_text())
    for figure_id, record in lock["figures"].items():
        generated, item = record["generated"], current[figure_id]
        parts = {k: v for k, v in generated["parts"].items() if not k.startswith(("content:", "source:"))}
        parts["content_rules"] = "2"
        parts.update({f"content:{part.label}": part.sent_digest for part in item.request.content})
        generated["parts"] = parts
        generated["fingerprint"] = item.fingerprint.previous
        if figure_id in changed:
            parts.update({f"content:{part.label}": "1" * 64 for part in item.request.content})
            generated["fingerprint"] = "sha256:" + "1" * 64
    (paper / "figures.lock").write_text(json.dumps(lock))


def test_an_upgrade_restales_only_figures_whose_text_sent_changed(
    paper: Path, run_cli: RunCli, emulator: Emulator
) -> None:
    _as_made_under_the_previous_rules(paper, {"method"})
    result = run_cli("status", "--json", root=paper)
    # (The image made under the current rules is also in history: status says so first.)
    rows = {
        row["id"]: (row["state"], [r for r in row["reasons"] if "in history" not in r])
        for row in json.loads(result.stdout)
    }
    assert rows == {
        figure: ("stale", ["content rules changed"]) if figure == "method" else ("fresh", [])
        for figure in FIGURES
    }
    assert run_cli("accept", "method", root=paper).exit_code == 0
    # A sync re-records the others under the new rules, and sends nothing.
    result_sync = run_sync(emulator, paper)
    assert not result_sync.failed
    assert emulator.records() == [], "not a single request"
    lock = json.loads((paper / "figures.lock").read_text())
    assert {f: r["generated"]["parts"]["content_rules"] for f, r in lock["figures"].items()} == dict.fromkeys(
        FIGURES, "3"
    )
    states = {row["id"]: row["state"] for row in json.loads(run_cli("status", "--json", root=paper).stdout)}
    assert states == dict.fromkeys(FIGURES, "fresh")
