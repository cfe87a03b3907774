"""figures.yaml: a corpus of bad manifests through the CLI, and what a good one loads into.

Every bad manifest must exit 2 with a message naming the file, the line, the figure
and the key, without a traceback, without echoing a secret, and without writing
anything (SPEC, "The manifest").
"""

from __future__ import annotations

import json
import shutil
import signal
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import Result

from figbuild import manifest as manifests
from figbuild.manifest import ContentSource

from .conftest import PaperFactory, all_files

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PAPER = REPO / "example-paper"
SECRET = "sk-live-4f9a8b7c6d5e"  # never a real key; must never be echoed

RunCli = Callable[..., Result]


@dataclass(frozen=True)
class Case:
    """One bad manifest and what its error message must say."""

    id: str
    manifest: str | bytes
    figure: str | None  # the figure id the problem is in, if any
    key: str | None  # the key the problem is about, if any
    line: int | None  # the line of the problem, where it has one
    expect: str = ""  # a fragment of the problem's message
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    #: Extra set-up with (paper root, tmp_path): things outside the paper, symlinks.
    setup: Callable[[Path, Path], None] | None = None
    also_status: bool = False  # run `status` too, not only `validate`


# Template problems leave `line` None here: which line they name is
# test_problems_point_at_the_line_of_their_key's business.


def _outside_file(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.tex").write_text("Secret reviewer notes.\n", encoding="utf-8")


def _symlink_outside(root: Path, tmp_path: Path) -> None:
    _outside_file(root, tmp_path)
    (root / "sections").mkdir(exist_ok=True)
    (root / "sections" / "linked.tex").symlink_to(tmp_path / "outside.tex")


def _figures_dir_outside(root: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (root / "figures").symlink_to(tmp_path / "elsewhere", target_is_directory=True)


METHOD_TEX = "\\section{Method}\nWe fuse depth and colour.\n"
PAPER_MD = "# Paper\n\n## Method\n\nText.\n\n## Results\n\nMore text.\n"
ELEVEN_URLS = "".join(f"      - https://example.org/{n}.png\n" for n in range(11))

CASES = [
    # -- YAML itself ----------------------------------------------------------------
    Case(
        "yaml-bad-indentation",
        "version: 1\nfigures:\n  a:\n    prompt: x\n   resolution: 2K\n",
        None,
        None,
        5,
        "invalid YAML",
        also_status=True,
    ),
    Case("yaml-tab", "version: 1\nfigures:\n\ta:\n    prompt: x\n", None, None, 3, "invalid YAML"),
    Case(
        "yaml-unclosed-quote",
        'version: 1\nfigures:\n  a:\n    prompt: "never closed\n',
        None,
        None,
        None,
        "invalid YAML",
    ),
    Case("empty-file", "", None, None, None, "empty"),
    Case("comments-only", "# nothing yet\n\n", None, None, None, "empty"),
    Case(
        "not-utf8-manifest",
        b"version: 1\nfigures:\n  a:\n    prompt: caf\xe9\n",
        None,
        None,
        None,
        "UTF-8",
    ),
    # -- the top level --------------------------------------------------------------
    Case("top-level-list", "- version: 1\n- figures: {}\n", None, None, 1, "not of type object"),
    Case("figures-a-list", "version: 1\nfigures:\n  - prompt: x\n", None, "figures", 2, "not of type object"),
    Case("figures-empty", "version: 1\nfigures: {}\n", None, "figures", 2, "must not be empty"),
    Case("missing-version", "figures:\n  a:\n    prompt: x\n", None, "version", None, "required"),
    Case("version-2", "version: 2\nfigures:\n  a:\n    prompt: x\n", None, "version", 1, "use 1"),
    Case(
        "unknown-top-level-key",
        "version: 1\ncolour: blue\nfigures:\n  a:\n    prompt: x\n",
        None,
        "colour",
        2,
        "unknown key",
        also_status=True,
    ),
    Case(
        "bad-var-name",
        "version: 1\nvars:\n  my-var: 1\nfigures:\n  a:\n    prompt: x\n",
        None,
        "vars",
        3,
        "my-var",
    ),
    Case(
        "output-dir-outside",
        "version: 1\noutput_dir: ../shared\nfigures:\n  a:\n    prompt: x\n",
        None,
        "output_dir",
        2,
        "uses '..'",
    ),
    Case(
        "defaults-bad-resolution",
        "version: 1\ndefaults:\n  resolution: 8K\nfigures:\n  a:\n    prompt: x\n",
        None,
        "defaults.resolution",
        3,
        "'8K' is not one of",
    ),
    # -- figure keys and values -----------------------------------------------------
    Case(
        "unknown-figure-key-promt",
        "version: 1\nfigures:\n  a:\n    promt: An overview.\n",
        "a",
        "promt",
        4,
        "unknown key",
    ),
    Case(
        "missing-prompt",
        "version: 1\nfigures:\n  a:\n    resolution: 2K\n",
        "a",
        "prompt",
        3,
        "required",
    ),
    Case(
        "prompt-not-a-string",
        "version: 1\nfigures:\n  a:\n    prompt: [one, two]\n",
        "a",
        "prompt",
        4,
        "not of type string",
    ),
    Case(
        "resolution-4k-lowercase",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    resolution: 4k\n",
        "a",
        "resolution",
        5,
        "'4k' is not one of",
    ),
    Case(
        "resolution-3K",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    resolution: 3K\n",
        "a",
        "resolution",
        5,
        "'3K' is not one of",
    ),
    Case(
        "aspect-ratio-16-10",
        'version: 1\nfigures:\n  a:\n    prompt: x\n    aspect_ratio: "16:10"\n',
        "a",
        "aspect_ratio",
        5,
        "'16:10' is not one of",
    ),
    Case(
        # A number where a ratio belongs: the hint says to write it as text.
        "aspect-ratio-a-number",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    aspect_ratio: 1.5\n",
        "a",
        "aspect_ratio",
        5,
        "is not one of: 1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9 "
        '(hint: write the ratio as text, e.g. "16:9")',
    ),
    Case(
        # YAML 1.1 read `yes` as true; YAML 1.2 (editors) reads text: both now refuse it.
        "frozen-yes",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    frozen: yes\n",
        "a",
        "frozen",
        5,
        "'yes' is not of type boolean (hint: use true or false",
    ),
    Case(
        "frozen-off-in-defaults",
        "version: 1\ndefaults:\n  frozen: off\nfigures:\n  a:\n    prompt: x\n",
        None,
        "defaults.frozen",
        3,
        "use true or false",
    ),
    Case(
        # Found by the property tests: a figure that is not a mapping, beside a
        # figure with a secret, was built unchecked (AttributeError).
        "figure-not-a-mapping-beside-a-secret",
        f"version: 1\nfigures:\n  a:\n  b:\n    prompt: {SECRET}\n",
        "a",
        None,
        3,
        "None is not of type object",
    ),
    Case(
        "yaml-recursive-alias",
        "version: 1\nvars: &v\n  self: *v\nfigures:\n  a:\n    prompt: x\n",
        None,
        None,
        2,
        "invalid YAML: an alias refers to a value that contains it",
    ),
    Case(
        "yaml-python-tag",
        "version: 1\nfigures:\n  a: !!python/object/apply:os.system [echo hi]\n",
        None,
        None,
        3,
        "invalid YAML: unsupported tag '!!python/object/apply:os.system'",
    ),
    Case(
        "yaml-python-tag-on-a-mapping",
        "version: 1\nfigures:\n  a: !!python/object:argparse.Namespace {prompt: x}\n",
        None,
        None,
        3,
        "unsupported tag '!!python/object:argparse.Namespace'",
    ),
    Case(
        "yaml-local-tag",
        "version: 1\nfigures:\n  a:\n    prompt: !secret x\n",
        None,
        None,
        4,
        "unsupported tag '!secret'",
    ),
    Case(
        "yaml-binary-tag",
        "version: 1\nvars:\n  blob: !!binary aGVsbG8=\nfigures:\n  a:\n    prompt: x\n",
        None,
        None,
        3,
        "unsupported tag '!!binary'",
    ),
    Case(
        "bad-model",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    model: nano-banana-3\n",
        "a",
        "model",
        5,
        "'nano-banana-3' is not one of",
    ),
    Case(
        "bad-mode",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    mode: fast\n",
        "a",
        "mode",
        5,
        "'fast' is not one of",
    ),
    Case(
        "frozen-not-boolean",
        'version: 1\nfigures:\n  a:\n    prompt: x\n    frozen: "maybe"\n',
        "a",
        "frozen",
        5,
        "not of type boolean",
    ),
    Case(
        "figure-id-with-space",
        "version: 1\nfigures:\n  my figure:\n    prompt: x\n",
        "my figure",
        "figures",
        3,
        "",
    ),
    Case(
        "figure-id-with-dot",
        "version: 1\nfigures:\n  fig.1:\n    prompt: x\n",
        "fig.1",
        "figures",
        3,
        "",
    ),
    Case(
        "duplicate-figure-id",
        "version: 1\nfigures:\n  a:\n    prompt: first\n  b:\n    prompt: other\n  a:\n    prompt: second\n",
        "a",
        None,
        7,
        "duplicate figure id (first defined on line 3)",
        also_status=True,
    ),
    Case(
        "duplicate-key-in-figure",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    resolution: 1K\n    resolution: 2K\n",
        "a",
        "resolution",
        6,
        "duplicate key (first on line 5)",
    ),
    # -- content --------------------------------------------------------------------
    Case(
        "content-file-missing",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: sections/method.tex\n",
        "a",
        "content",
        5,
        "does not exist",
        also_status=True,
    ),
    Case(
        "content-escapes-root",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: ../outside.tex\n",
        "a",
        "content",
        5,
        "uses '..'",
        setup=_outside_file,
    ),
    Case(
        "content-glob-escapes-root",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: ../*.tex\n",
        "a",
        "content",
        5,
        "uses '..'",
        setup=_outside_file,
    ),
    Case(
        "content-symlink-to-outside",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content:\n      - sections/linked.tex\n",
        "a",
        "content",
        6,
        "outside the paper root",
        setup=_symlink_outside,
    ),
    Case(
        "content-absolute",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: /etc/hostname\n",
        "a",
        "content",
        5,
        "absolute",
    ),
    Case(
        "content-glob-matches-nothing",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: sections/appendix-*.tex\n",
        "a",
        "content",
        5,
        "matches no file",
        files={"sections/method.tex": METHOD_TEX},
    ),
    Case(
        "content-section-not-found",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content:\n      - file: paper.md\n"
        "        section: Training\n",
        "a",
        "content",
        6,
        "near matches first: section: 'Paper' (paper.md:1); section: 'Paper/Method' (paper.md:3)",
        files={"paper.md": PAPER_MD},
    ),
    Case(
        "content-section-in-plain-text",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: {file: notes.txt, section: Method}\n",
        "a",
        "content.file",
        5,
        "sections can only be picked",
        files={"notes.txt": "Method\n\nnotes\n"},
    ),
    Case(
        "content-not-utf8",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: sections/method.tex\n",
        "a",
        "content",
        5,
        "not UTF-8",
        files={"sections/method.tex": b"\\section{M\xe9thode}\nLatin-1 text.\n"},
    ),
    Case(
        "content-too-long",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: big.txt\n",
        "a",
        "content",
        None,
        "the API allows 100,000",
        files={"big.txt": ("lorem ipsum " * 9 + "\n") * 1000},  # 108,000 characters
    ),
    Case(
        "content-in-standard-mode-from-defaults",
        "version: 1\ndefaults:\n  mode: standard\n"
        "figures:\n  a:\n    prompt: x\n    content: sections/method.tex\n",
        "a",
        "content",
        None,
        "only sent in pipeline mode",
        files={"sections/method.tex": METHOD_TEX},
    ),
    Case(
        "content-in-standard-mode",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    mode: standard\n    content: sections/method.tex\n",
        "a",
        "content",
        6,
        "only sent in pipeline mode",
        files={"sections/method.tex": METHOD_TEX},
    ),
    Case(
        # Lists are allowed, so "a list is not of type string" would mislead.
        "content-empty-list",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content: []\n",
        "a",
        "content",
        5,
        "must not be empty",
    ),
    Case(
        "content-entry-unknown-key-sectoin",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content:\n      - file: paper.md\n"
        "        sectoin: Method\n",
        "a",
        None,
        7,
        "sectoin",
        files={"paper.md": PAPER_MD},
    ),
    Case(
        "content-entry-without-file",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    content:\n      - section: Method\n",
        "a",
        None,
        6,
        "key 'content.file'",
    ),
    # -- output ---------------------------------------------------------------------
    Case(
        "output-parent-dir",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    output: ../x.png\n",
        "a",
        "output",
        5,
        "uses '..'",
    ),
    Case(
        "output-absolute",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    output: /tmp/x.png\n",
        "a",
        "output",
        5,
        "absolute",
    ),
    Case(
        "output-through-symlinked-dir",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    output: figures/a.png\n",
        "a",
        "output",
        5,
        "leaves the paper root",
        setup=_figures_dir_outside,
    ),
    Case(
        "output-gif",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    output: figures/a.gif\n",
        "a",
        "output",
        5,
        ".png, .jpg, .jpeg or .pdf",
    ),
    Case(
        "two-figures-one-output",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    output: figures/same.png\n"
        "  b:\n    prompt: y\n    output: figures/same.png\n",
        "b",
        "output",
        8,
        "the output of figure 'a'",
    ),
    Case(
        "explicit-output-equals-default-of-another",
        "version: 1\nfigures:\n  a:\n    prompt: x\n  b:\n    prompt: y\n    output: ./figures/a.png\n",
        "b",
        "output",
        7,
        "the output of figure 'a'",
    ),
    # -- image_input ----------------------------------------------------------------
    Case(
        "image-input-http",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    image_input:\n      - http://example.org/sketch.png\n",
        "a",
        "image_input",
        6,
        "not an https:// URL",
    ),
    Case(
        "image-input-eleven-urls",
        "version: 1\nfigures:\n  a:\n    prompt: x\n    image_input:\n" + ELEVEN_URLS,
        "a",
        "image_input",
        5,
        "at most 10",
    ),
    # -- templates ------------------------------------------------------------------
    Case(
        "prompt-renders-too-long",
        "version: 1\nfigures:\n  a:\n    prompt: \"{{ 'x' * 10001 }}\"\n",
        "a",
        "prompt",
        None,
        "10,001 characters",
    ),
    Case(
        "prompt-long-var",
        "version: 1\nvars:\n  blurb: " + "word " * 2100 + "\nfigures:\n  a:\n    prompt: '{{ blurb }}'\n",
        "a",
        "prompt",
        None,
        "the API allows 10,000",
    ),
    Case(
        "undefined-variable",
        "version: 1\nvars:\n  method: FlowNet\nfigures:\n  a:\n    prompt: 'Overview of {{ methdo }}.'\n",
        "a",
        "prompt",
        None,
        "'methdo' is undefined",
        also_status=True,
    ),
    Case(
        "template-syntax-error",
        "version: 1\nfigures:\n  a:\n    prompt: 'Overview of {{ method'\n",
        "a",
        "prompt",
        None,
        "syntax error",
    ),
    Case(
        "sandbox-escape-subclasses",
        "version: 1\nfigures:\n  a:\n    prompt: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"\n",
        "a",
        "prompt",
        None,
        "",
    ),
    Case(
        "sandbox-escape-globals",
        "version: 1\nfigures:\n  a:\n    prompt: '{{ cycler.__init__.__globals__ }}'\n",
        "a",
        "prompt",
        None,
        "",
    ),
    # -- secrets --------------------------------------------------------------------
    Case(
        "api-key-top-level",
        f"version: 1\napi_key: {SECRET}\nfigures:\n  a:\n    prompt: x\n",
        None,
        "api_key",
        2,
        "PAPERBANANA_API_KEY",
        also_status=True,
    ),
    Case(
        "api-key-in-figure",
        f"version: 1\nfigures:\n  a:\n    prompt: x\n    api_key: {SECRET}\n",
        "a",
        "api_key",
        5,
        "PAPERBANANA_API_KEY",
    ),
    Case(
        "secret-value-in-vars",
        f"version: 1\nvars:\n  method: FlowNet\n  note: {SECRET}\nfigures:\n  a:\n    prompt: x\n",
        None,
        "vars.note",
        4,
        "sk-...",
    ),
]


def _write_case(case: Case, tmp_path: Path) -> Path:
    root = tmp_path / "paper"
    root.mkdir()
    for relative, data in case.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    manifest = case.manifest if isinstance(case.manifest, bytes) else case.manifest.encode("utf-8")
    (root / "figures.yaml").write_bytes(manifest)
    if case.setup is not None:
        case.setup(root, tmp_path)
    return root


def _tree(top: Path) -> tuple[list[str], dict[str, bytes]]:
    """Every entry (directories and symlinks too) and every file's bytes under ``top``."""
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*")), all_files(top)


def _paper_files(root: Path) -> dict[str, bytes]:
    """The paper's own files: all but figbuild's private, disposable ``.figbuild/``."""
    return {name: data for name, data in all_files(root).items() if not name.startswith(".figbuild/")}


def _problem_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith("figures.yaml")]


def _params() -> Iterator[Any]:
    for case in CASES:
        yield pytest.param(case, "validate", id=f"validate-{case.id}")
        if case.also_status:
            yield pytest.param(case, "status", id=f"status-{case.id}")


def test_corpus_is_big_and_ids_unique() -> None:
    assert len(CASES) >= 24
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "command"), list(_params()))
def test_bad_manifest(case: Case, command: str, tmp_path: Path, run_cli: RunCli) -> None:
    root = _write_case(case, tmp_path)
    before = _tree(tmp_path)

    result = run_cli(command, root=root)

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    if command == "status" and case.figure is not None and case.key in ("content", "prompt"):
        # SPEC: a problem of one figure does not hide the others; it is an `error` row.
        assert f"{case.figure}  error" in result.stdout
    else:
        assert result.stdout == ""
    assert "nothing was sent or written" in result.stderr
    fragments = []
    if case.line is not None:
        fragments.append(f"figures.yaml:{case.line}: ")
    if case.figure is not None:
        fragments.append(f"figure '{case.figure}'")
    if case.key is not None:
        fragments.append(f"key '{case.key}'")
    if case.expect:
        fragments.append(case.expect)
    problems = _problem_lines(result.stderr)
    # One reported problem carries all of it: line, figure, key and message together.
    assert any(all(fragment in line for fragment in fragments) for line in problems), (fragments, problems)
    assert SECRET not in result.output
    assert _tree(tmp_path) == before
    for written in ("figures.lock", ".figbuild"):
        assert not (root / written).exists()
    if case.setup is None:
        assert not (root / "figures").exists()


def test_duplicate_figure_id_keeps_neither_silently(make_paper: PaperFactory) -> None:
    root = make_paper("version: 1\nfigures:\n  a:\n    prompt: first\n  a:\n    prompt: second\n")
    with pytest.raises(manifests.ManifestError) as info:
        manifests.load(root / "figures.yaml")
    assert [(p.figure, p.line) for p in info.value.problems] == [("a", 5)]


def test_sandbox_escape_does_not_leak_python_internals(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper("version: 1\nfigures:\n  a:\n    prompt: '{{ cycler.__init__.__globals__ }}'\n")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "__builtins__" not in result.output
    assert "<module" not in result.output


# -- several problems, secrets ----------------------------------------------------------


def test_problems_of_one_kind_are_reported_together(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(
        "version: 1\n"  # 1
        "colour: blue\n"  # 2 unknown key
        "figures:\n"  # 3
        "  a:\n"  # 4
        "    prompt: x\n"  # 5
        "    resolution: 4k\n"  # 6 bad enum
        "  b:\n"  # 7
        "    promt: y\n"  # 8 unknown key + missing prompt (line 7)
        "  c:\n"  # 9
        "    prompt: z\n"  # 10
        "    model: nano\n"  # 11 bad enum
        "    output: figures/c.gif\n"  # 12 bad extension
    )
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    problems = _problem_lines(result.stderr)
    assert "6 problems in the manifest" in result.stderr, result.stderr
    assert len(problems) == 6, problems
    for where in (":2:", ":6:", ":7:", ":8:", ":11:", ":12:"):
        assert any(where in line for line in problems), (where, problems)


def test_content_and_template_problems_are_reported_together(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = make_paper(
        "version: 1\n"
        "figures:\n"
        "  a:\n"
        "    prompt: '{{ undefined_thing }}'\n"
        "  b:\n"
        "    prompt: x\n"
        "    content: missing.tex\n"
        "  c:\n"
        "    prompt: x\n"
        "    content: [paper.md, {file: paper.md, section: Nope}, nothing-*.tex]\n",
        files={"paper.md": PAPER_MD},
    )
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    problems = _problem_lines(result.stderr)
    assert len(problems) == 4, problems
    assert "4 problems in the manifest" in result.stderr


def test_problems_point_at_the_line_of_their_key(make_paper: PaperFactory, run_cli: RunCli) -> None:
    """A template or content-size problem names the line of `prompt` / `content`, not of the figure."""
    root = make_paper(
        "version: 1\n"  # 1
        "figures:\n"  # 2
        "  a:\n"  # 3
        "    resolution: 2K\n"  # 4
        "    prompt: 'Overview of {{ method }'\n"  # 5
        "  b:\n"  # 6
        "    prompt: x\n"  # 7
        "    content: big.txt\n",  # 8
        files={"big.txt": "word " * 20_001},
    )
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    problems = _problem_lines(result.stderr)
    assert any(line.startswith("figures.yaml:5: figure 'a', key 'prompt'") for line in problems), problems
    assert any(line.startswith("figures.yaml:8: figure 'b', key 'content'") for line in problems), problems


def test_problems_in_independent_figures_are_reported_in_one_run(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    """A schema problem in one figure must not hide a content problem in another:
    the user should fix everything in one go, not discover problems one run at a time."""
    root = make_paper(
        "version: 1\n"
        "figures:\n"
        "  a:\n"
        "    prompt: x\n"
        "    resolution: 4k\n"  # schema
        "  b:\n"
        "    prompt: x\n"
        "    content: missing.tex\n"  # file system
        "  c:\n"
        "    prompt: '{{ nope }}'\n"  # template
    )
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    problems = _problem_lines(result.stderr)
    for figure in ("a", "b", "c"):
        assert any(f"figure '{figure}'" in line for line in problems), (figure, problems)


@pytest.mark.parametrize("command", [("validate",), ("-v", "validate"), ("status", "--json")])
def test_secrets_are_never_echoed(
    command: tuple[str, ...], make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = make_paper(
        "version: 1\n"
        f"api_key: {SECRET}\n"
        "vars:\n"
        f"  note: 'use {SECRET} for the demo'\n"
        "defaults:\n"
        f"  model: {SECRET}\n"
        "figures:\n"
        "  a:\n"
        f"    prompt: 'Overview {SECRET}'\n"
        f"    token: {SECRET}\n"
        f"    image_input: ['https://example.org/x.png?key={SECRET}']\n"
    )
    result = run_cli(*command, root=root)
    assert result.exit_code == 2
    assert SECRET not in result.output
    assert "4f9a8b7c6d5e" not in result.output
    problems = _problem_lines(result.stderr)
    assert len(problems) == 6, problems


# -- what a valid manifest loads into ---------------------------------------------------


def test_valid_manifest_validates(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(
        "version: 1\n"
        "vars:\n  method: FlowNet\n"
        "figures:\n"
        "  overview:\n"
        "    prompt: 'Overview of {{ method }}.'\n"
        "    content: sections/method.tex\n"
        "  teaser:\n"
        "    mode: standard\n"
        "    prompt: A teaser.\n"
        "    output: figures/teaser.jpg\n",
        files={"sections/method.tex": METHOD_TEX},
    )
    before = _paper_files(root)
    result = run_cli("validate", root=root)
    assert result.exit_code == 0, result.output
    assert "2 figures, all valid" in result.stderr
    assert _paper_files(root) == before
    assert not (root / "figures.lock").exists()
    assert not (root / "figures").exists()
    # Validating again (now maybe from a cache) gives the same answer.
    again = run_cli("validate", root=root)
    assert (again.exit_code, again.stderr) == (0, result.stderr)


def test_defaults_apply_and_figures_override_them(make_paper: PaperFactory) -> None:
    root = make_paper(
        "version: 1\n"
        "output_dir: img\n"
        "defaults:\n"
        "  mode: standard\n"
        "  model: nano-banana\n"
        "  resolution: 2K\n"
        '  aspect_ratio: "16:9"\n'
        "  image_input: ['https://example.org/style.png']\n"
        "  frozen: true\n"
        "figures:\n"
        "  plain:\n"
        "    prompt: Plain.\n"
        "  custom:\n"
        "    prompt: Custom.\n"
        "    mode: pipeline\n"
        "    model: nano-banana-2\n"
        "    resolution: 4K\n"
        '    aspect_ratio: "3:4"\n'
        "    image_input: []\n"
        "    frozen: false\n"
        "    content: [paper.md, {file: paper.md, section: Method}]\n"
        "    output: out/custom.pdf\n",
        files={"paper.md": PAPER_MD},
    )
    manifest = manifests.load(root / "figures.yaml")
    plain, custom = manifest.figures
    assert (plain.id, plain.mode, plain.model, plain.resolution, plain.aspect_ratio) == (
        "plain",
        "standard",
        "nano-banana",
        "2K",
        "16:9",
    )
    assert plain.image_input == ("https://example.org/style.png",)
    assert plain.frozen is True
    assert plain.output == "img/plain.png"
    assert plain.content == ()
    assert plain.line == 11
    assert (custom.mode, custom.model, custom.resolution, custom.aspect_ratio) == (
        "pipeline",
        "nano-banana-2",
        "4K",
        "3:4",
    )
    assert custom.image_input == ()
    assert custom.frozen is False
    assert custom.output == "out/custom.pdf"
    assert [(c.pattern, c.section) for c in custom.content] == [("paper.md", None), ("paper.md", "Method")]
    assert custom.content[1].label == "paper.md#Method"
    assert manifest.root == root
    assert manifest.output_dir == "img"


def test_builtin_defaults(make_paper: PaperFactory) -> None:
    root = make_paper("version: 1\nfigures:\n  fig-1:\n    prompt: x\n")
    manifest = manifests.load(root / "figures.yaml")
    (figure,) = manifest.figures
    assert (figure.mode, figure.model, figure.resolution, figure.aspect_ratio) == (
        "pipeline",
        "nano-banana-pro",
        "1K",
        "1:1",
    )
    assert figure.image_input == ()
    assert figure.frozen is False
    assert figure.output == "figures/fig-1.png"
    assert manifest.vars == {}


def test_manifest_is_frozen(make_paper: PaperFactory) -> None:
    root = make_paper("version: 1\nfigures:\n  a:\n    prompt: x\n")
    figure = manifests.load(root / "figures.yaml").figure("a")
    with pytest.raises(AttributeError):
        figure.prompt = "changed"  # type: ignore[misc]


def test_single_content_string_and_mapping(make_paper: PaperFactory) -> None:
    root = make_paper(
        "version: 1\nfigures:\n"
        "  a:\n    prompt: x\n    content: paper.md\n"
        "  b:\n    prompt: x\n    content: {file: paper.md, section: Results}\n",
        files={"paper.md": PAPER_MD},
    )
    manifest = manifests.load(root / "figures.yaml")
    assert manifest.figure("a").content == (ContentSource("paper.md", None, 5),)
    assert manifest.figure("b").content == (ContentSource("paper.md", "Results", 8),)


def test_select_unknown_figure_is_a_usage_error(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper("version: 1\nfigures:\n  a:\n    prompt: x\n")
    result = run_cli("status", "nope", root=root)
    assert result.exit_code == 2
    assert "'nope'" in result.stderr
    assert "Traceback" not in result.output


def test_alias_bomb_never_hangs(make_paper: PaperFactory, run_cli: RunCli) -> None:
    """A "billion laughs" document (10**9 strings through aliases) is handled in linear time."""
    lines = ["version: 1", "vars:", '  l0: &l0 "lol"']
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 10)]
    lines += ["figures:", "  a:", "    prompt: x"]
    root = make_paper("\n".join(lines) + "\n")

    class Hung(Exception):
        pass

    def give_up(signum: int, frame: types.FrameType | None) -> None:
        raise Hung

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        result = run_cli("validate", root=root)
    except Hung:
        pytest.fail("validating a YAML alias bomb did not finish within 1 s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code in (0, 2)
    assert "Traceback" not in result.output


# -- the schema, the example paper, init ------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(manifests.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_repo_schema_is_the_packaged_schema() -> None:
    shipped = REPO / "schemas" / "figures.schema.json"
    assert shipped.resolve() == manifests.SCHEMA_PATH.resolve()
    assert shipped.read_bytes() == manifests.SCHEMA_PATH.read_bytes()


def test_schema_path_option_prints_the_schema(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", "--schema-path", root=tmp_path)
    assert result.exit_code == 0
    assert Path(result.stdout.strip()).resolve() == manifests.SCHEMA_PATH.resolve()


def test_schema_agrees_with_the_example_manifest() -> None:
    import yaml

    schema = json.loads(manifests.SCHEMA_PATH.read_text(encoding="utf-8"))
    data = yaml.safe_load((EXAMPLE_PAPER / "figures.yaml").read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    data["figures"]["overview"]["resolution"] = "4k"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) != []


def test_example_paper_validates(run_cli: RunCli, tmp_path: Path) -> None:
    # A copy, so that no run of the tests writes into the repository.
    root = tmp_path / "example-paper"
    shutil.copytree(EXAMPLE_PAPER, root, symlinks=True, ignore=shutil.ignore_patterns(".figbuild"))
    before = _paper_files(root)
    result = run_cli("validate", root=root)
    assert result.exit_code == 0, result.output
    assert "4 figures, all valid" in result.stderr
    assert _paper_files(root) == before


def test_init_writes_a_starter_that_validates(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("init", root=tmp_path)
    assert result.exit_code == 0, result.output
    path = tmp_path / "figures.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#")  # commented
    assert "sk-" not in text.replace("sk-…", "")
    result = run_cli("validate", root=tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 figures, all valid" in result.stderr
    assert list(_paper_files(tmp_path)) == ["figures.yaml"]


def test_init_refuses_to_overwrite(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper("version: 1\nfigures:\n  mine:\n    prompt: My own figure.\n")
    before = _tree(root)
    result = run_cli("init", root=root)
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert "Traceback" not in result.output
    assert _tree(root) == before


def test_no_manifest_is_a_usage_error(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("validate", root=tmp_path)
    assert result.exit_code == 2
    assert "figbuild init" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["max_tokens", "token_budget", "secret_sauce", "keynote"])
def test_var_names_that_merely_contain_a_secret_word_are_fine(
    make_paper: PaperFactory, run_cli: RunCli, name: str
) -> None:
    root = make_paper(f"version: 1\nvars:\n  {name}: 5\nfigures:\n  a:\n    prompt: x\n")
    result = run_cli("validate", root=root)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "name", ["api_key", "API-KEY", "apikey", "token", "access_token", "PAPERBANANA_API_KEY"]
)
def test_credential_key_names_are_refused(make_paper: PaperFactory, run_cli: RunCli, name: str) -> None:
    root = make_paper(f"version: 1\nvars:\n  {name}: something\nfigures:\n  a:\n    prompt: x\n")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "looks like a credential" in result.output


# -- the schema against validate --------------------------------------------------------

SCHEMA_FILES = (
    REPO / "schemas" / "figures.schema.json",
    REPO / "figbuild" / "schemas" / "figures.schema.json",
)


def _editor_rejects(case: Case, tmp_path: Path) -> bool:
    """What an editor with the schema says: YAML 1.2 errors (duplicate keys, bad
    syntax, unsupported tags) or a schema error."""
    from figbuild import yamlsource

    text = case.manifest.decode("utf-8", "replace") if isinstance(case.manifest, bytes) else case.manifest
    try:
        doc = yamlsource.load(text)
    except Exception:
        return True
    if doc.duplicates or doc.data is None:
        return True
    schema = json.loads(SCHEMA_FILES[0].read_text(encoding="utf-8"))
    return not jsonschema.Draft202012Validator(schema).is_valid(doc.data)


#: Bad manifests the schema cannot catch, and why: they need the file system, the
#: template engine, or a value computed from several places.
SCHEMA_CANNOT = {
    "not-utf8-manifest": "an editor decodes the bytes before the schema sees any value",
    "content-file-missing": "needs the file system",
    "content-symlink-to-outside": "needs the file system (where a symlink points)",
    "content-glob-matches-nothing": "needs the file system",
    "content-section-not-found": "needs the file's text",
    "content-not-utf8": "needs the file's bytes",
    "content-too-long": "needs the files' text",
    "output-through-symlinked-dir": "needs the file system (where a symlink points)",
    "two-figures-one-output": "compares two figures' values (JSON Schema cannot)",
    "explicit-output-equals-default-of-another": "compares one figure's output with another's default",
    "prompt-renders-too-long": "the length is known once the template is rendered",
    "prompt-long-var": "the length is known once vars are rendered into the prompt",
    "undefined-variable": "needs the template engine and vars",
    "template-syntax-error": "needs the template engine (Jinja2 syntax)",
    "sandbox-escape-subclasses": "needs the template engine's sandbox",
    "sandbox-escape-globals": "needs the template engine's sandbox",
}


def test_schema_and_validate_agree_on_the_bad_manifest_corpus(tmp_path: Path) -> None:
    """Every manifest `validate` rejects, the schema (as an editor uses it) rejects too,
    except the listed ones; this prints the parity numbers."""
    missed = sorted(case.id for case in CASES if not _editor_rejects(case, tmp_path))
    print(f"schema/validate parity: {len(CASES)} bad manifests, the schema misses {len(missed)}")
    unexplained = [case_id for case_id in missed if case_id not in SCHEMA_CANNOT]
    assert unexplained == [], "the schema could catch these: encode them"
    stale = sorted(set(SCHEMA_CANNOT) - set(missed))
    assert stale == [], "the schema catches these now: drop them from SCHEMA_CANNOT"


def test_schema_copies_are_identical() -> None:
    assert SCHEMA_FILES[0].read_bytes() == SCHEMA_FILES[1].read_bytes()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("figures/a.png", "./figures/a.png"),
        ("figures/a.png", "figures//a.png"),
        ("figures/a.png", "linked/a.png"),
    ],
)
def test_two_spellings_of_one_output_are_a_manifest_error_naming_both_figures(
    make_paper: PaperFactory, run_cli: RunCli, first: str, second: str
) -> None:
    # Both figures would be paid for, one overwriting the other, which would then be
    # called "modified by hand".
    root = make_paper(
        {
            "version": 1,
            "figures": {"one": {"prompt": "x", "output": first}, "two": {"prompt": "y", "output": second}},
        }
    )
    (root / "figures/sub").mkdir(parents=True)
    (root / "linked").symlink_to("figures")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "figure 'two'" in result.stderr
    assert "figure 'one'" in result.stderr
    assert "same file" in result.stderr


def test_a_dot_dot_spelling_is_refused_even_when_it_stays_inside(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    # figures/sub/../a.png is figures/a.png, or elsewhere through a symlinked folder:
    # rather than guess, '..' is not part of a figbuild path (editors say so too).
    root = make_paper(
        {
            "version": 1,
            "figures": {
                "one": {"prompt": "x", "output": "figures/a.png"},
                "two": {"prompt": "y", "output": "figures/sub/../a.png"},
            },
        }
    )
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    assert "figure 'two', key 'output': 'figures/sub/../a.png' uses '..'" in result.stderr
