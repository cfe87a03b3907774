"""Every recipe in docs/build-integration.md, extracted from the markdown and run.

A fenced block marked ``<!-- recipe: NAME -->`` is run by a test below; one marked
``<!-- not run here: WHY -->`` says why it is not. The example paper is copied to a
temp directory for each test, and built with real make, latexmk, pandoc, git and
pre-commit; figures come from the bundled emulator or placeholders (no key, no
network).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from figbuild.backends.paperbanana.settings import EMULATOR_KEY
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import read

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "build-integration.md"
EXAMPLE = REPO / "example-paper"
SCRIPT = shutil.which("figbuild")
BIN = str(Path(sys.executable).parent)
#: PATH without figbuild: a co-author who never installed it.
BARE_PATH = os.pathsep.join(
    d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "figbuild").exists()
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not DOC.is_file() or not EXAMPLE.is_dir(), reason="needs a checkout (docs/, example-paper/)"
    ),
]

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!-- (recipe: ([\w-]+)|not run here: (.*?)) -->\s*\n(?:[^\n`]*\n)*?(?=```)", re.S)


def blocks() -> list[tuple[int, str]]:
    """(offset, text) of every fenced block in the doc."""
    text = DOC.read_text(encoding="utf-8")
    return [(m.start(), m.group(2)) for m in _BLOCK.finditer(text)]


def marks() -> dict[int, tuple[str | None, str | None]]:
    """For each marked block's offset: (recipe name, reason it is not run)."""
    text = DOC.read_text(encoding="utf-8")
    return {m.end(): (m.group(2), m.group(3)) for m in _MARK.finditer(text)}


def recipe(name: str) -> str:
    found = {marked[0]: text for offset, text in blocks() if (marked := marks().get(offset))}
    return found[name]


def test_every_block_is_a_recipe_or_says_why_it_is_not_run() -> None:
    marked = marks()
    unmarked = [text.splitlines()[0] for offset, text in blocks() if offset not in marked]
    assert unmarked == []
    names = sorted(name for name, _ in marked.values() if name)
    assert names == [
        "ci",
        "git-merge",
        "latexmkrc",
        "make",
        "overleaf",
        "pandoc",
        "pre-commit",
        "pre-commit-subfolder",
        "pvc",
    ]
    reasons = [why for _, why in marked.values() if why]
    assert any("Quarto" in why for why in reasons), reasons
    for _, why in marked.values():
        assert why is None or len(why) > 20, "a block that is not run says why"


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool, path=_env()["PATH"]) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (.ci/run installs them)")


def _env(*, figbuild: bool = True, **extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PATH"] = os.pathsep.join([BIN, BARE_PATH]) if figbuild else BARE_PATH
    return env


def run(
    cmd: list[str] | str, cwd: Path, *, figbuild: bool = True, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """``cmd`` (a shell line when a string) in ``cwd``, with or without figbuild on PATH."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        shell=isinstance(cmd, str),
        env=_env(figbuild=figbuild, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    root = tmp_path / "paper"
    ignore = shutil.ignore_patterns(
        ".figbuild", "*.pdf", "paper.html", "*.aux", "*.log", "*.fls", "*.fdb_latexmk"
    )
    shutil.copytree(EXAMPLE, root, ignore=ignore)
    # The committed appendix figure is a PDF: keep it (ignore_patterns dropped it).
    shutil.copy2(EXAMPLE / "figures" / "appendix-details.pdf", root / "figures" / "appendix-details.pdf")
    return root


@pytest.fixture
def server() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.1, image_scale=0.1)) as emulator:
        yield emulator


@pytest.fixture
def api(server: Emulator) -> dict[str, str]:
    """The emulator as the API, with a key: images count as real (fresh), unlike the
    stand-ins of `sync --emulator`."""
    return {"PAPERBANANA_BASE_URL": server.base_url, "PAPERBANANA_API_KEY": "sk-docs-test"}


def image_hashes(pdf: Path, work: Path) -> list[str]:
    """The sha256 of every image embedded in ``pdf``, sorted (pdfimages -png)."""
    out = work / f"images-{pdf.stat().st_mtime_ns}"
    out.mkdir()
    subprocess.run(["pdfimages", "-png", str(pdf), str(out / "img")], check=True)
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir())


def status_states(root: Path) -> dict[str, str]:
    import json

    result = run([SCRIPT or "figbuild", "status", "--json"], root)
    return {row["id"]: row["state"] for row in json.loads(result.stdout)}


# -- make -----------------------------------------------------------------------------


def test_make_recipe_syncs_although_figures_is_a_directory(paper: Path, api: dict[str, str]) -> None:
    _need("make")
    (paper / "Makefile").write_text(recipe("make"), encoding="utf-8")
    (paper / "sections" / "method.tex").write_text("\\section{Method}\nAn edited method.\n")
    result = ok(run(["make", "figures"], paper, **api))
    assert "overview: written" in result.stderr
    assert status_states(paper)["overview"] == "fresh"


def test_make_recipe_builds_without_figbuild_installed(paper: Path) -> None:
    _need("make", "latexmk", "pdflatex", "pandoc")
    (paper / "Makefile").write_text(recipe("make"), encoding="utf-8")
    for target, output in (("pdf", "paper.pdf"), ("html", "paper.html"), ("md-pdf", "paper-md.pdf")):
        result = ok(run(["make", target], paper, figbuild=False))
        assert "figbuild: not installed" in result.stdout
        assert (paper / output).is_file()


# -- latexmk ----------------------------------------------------------------------------


def test_latexmkrc_recipe_is_the_shipped_one() -> None:
    shipped = (EXAMPLE / ".latexmkrc").read_text(encoding="utf-8")
    assert shipped.endswith(recipe("latexmkrc"))
    assert "--best-effort --deps" in recipe("latexmkrc")
    for engine in ("pdflatex", "xelatex", "lualatex", "latex"):
        assert f"${engine} = 'internal figbuild_engine {engine} %O %S';" in recipe("latexmkrc")


def test_the_overleaf_latexmkrc_is_its_default_rules_then_the_same_hook() -> None:
    shipped = (EXAMPLE / "latexmkrc").read_text(encoding="utf-8")
    hook = recipe("latexmkrc").replace("$pdf_mode = 1;\n", "", 1)
    assert shipped.endswith(hook), "the hook of .latexmkrc, without an engine (Overleaf picks it)"
    assert recipe("overleaf") in shipped
    for rule in ("'glo', 'gls'", "'acn', 'acr'", "'nlo', 'nls'", "glob('*.ist')", "makeglossaries"):
        assert rule in shipped
    # Overleaf's preview breaks with these (its documentation says so), and it picks the engine.
    assigned = set(re.findall(r"^\s*\$(\w+)\s*=", shipped, re.M))
    assert not assigned & {"output_dir", "out_dir", "aux_dir", "preview_continuous_mode", "pdf_mode"}


LATEXMK = ["latexmk", "-pdf", "-interaction=nonstopmode", "paper.tex"]


def test_latexmk_without_key_or_figbuild_still_yields_a_pdf(paper: Path) -> None:
    _need("latexmk", "pdflatex")
    result = ok(run(LATEXMK, paper, figbuild=False))
    assert result.stdout.count("figbuild: not installed") == 1
    assert (paper / "paper.pdf").is_file()


def test_latexmk_without_a_key_warns_in_one_line_per_pass_and_yields_a_pdf(paper: Path) -> None:
    _need("latexmk", "pdflatex")
    (paper / "sections" / "method.tex").write_text("\\section{Method}\nAn edited method.\n")
    result = ok(run(LATEXMK, paper))
    passes = result.stdout.count("calling figbuild_engine(")
    assert passes >= 1
    warned = [line for line in result.stderr.splitlines() if line.startswith("figbuild: warning:")]
    assert len(warned) == passes, "one summary line per LaTeX pass, not one per figure"
    assert all(" figures not synced (overview, " in line for line in warned), warned
    assert "PAPERBANANA_API_KEY is not set" in warned[0]
    assert (paper / "paper.pdf").is_file()


# A paper small enough for every engine, with no font beyond each engine's defaults.
ENGINE_PAPER = {
    "paper.tex": "\\documentclass{article}\n\\usepackage{graphicx}\n\\begin{document}\n"
    "\\input{sections/method}\n\\includegraphics[width=3cm]{figures/overview.png}\n\\end{document}\n",
    "sections/method.tex": "\\section{Method}\nWe fuse colour and depth.\n",
    "figures.yaml": "version: 1\nfigures:\n  overview:\n    prompt: The method.\n"
    "    content: sections/method.tex\n",
}


@pytest.mark.parametrize(
    ("flag", "engine"), [("-pdf", "pdflatex"), ("-pdfxe", "xelatex"), ("-pdflua", "lualatex")]
)
def test_every_engine_syncs_an_edited_content_source_before_it_runs(
    tmp_path: Path, api: dict[str, str], flag: str, engine: str
) -> None:
    _need("latexmk", engine, "pdfimages")
    root = tmp_path / "engine-paper"
    for name, text in ENGINE_PAPER.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    shutil.copy2(EXAMPLE / ".latexmkrc", root / ".latexmkrc")
    command = ["latexmk", flag, "-interaction=nonstopmode", "paper.tex"]
    first = ok(run(command, root, **api))
    assert f"calling figbuild_engine( {engine} " in first.stdout
    before = image_hashes(root / "paper.pdf", tmp_path)
    assert "sections/method.tex" in (root / "paper.fls").read_text(), "the content source is a dependency"

    (root / "sections/method.tex").write_text("\\section{Method}\nWe fuse colour, depth and flow.\n")
    second = ok(run(command, root, **api))
    assert "overview: written" in second.stderr, second.stdout[-2000:]
    assert status_states(root) == {"overview": "fresh"}
    image = (root / "figures/overview.png").stat().st_mtime_ns
    assert image < (root / "paper.pdf").stat().st_mtime_ns
    after = image_hashes(root / "paper.pdf", tmp_path)
    assert after != before, "the engine ran after the sync: the PDF holds the new image"


def test_the_overleaf_latexmkrc_builds_a_glossary_through_the_kept_rule_without_figbuild(
    tmp_path: Path,
) -> None:
    _need("latexmk", "pdflatex", "makeglossaries", "pdftotext")
    found = subprocess.run(["kpsewhich", "glossaries.sty"], capture_output=True, text=True, check=False)
    if not found.stdout.strip():
        pytest.skip("needs the glossaries package (Debian: texlive-latex-extra)")
    root = tmp_path / "overleaf"
    root.mkdir()
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{glossaries}\n\\makeglossaries\n"
        "\\newglossaryentry{flow}{name={flow field},description={a dense map of displacements}}\n"
        "\\begin{document}\nWe warp with a \\gls{flow}.\n\\printglossaries\n\\end{document}\n",
        encoding="utf-8",
    )
    shutil.copy2(EXAMPLE / "latexmkrc", root / "latexmkrc")
    assert not (root / ".latexmkrc").exists()
    result = ok(run(["latexmk", "-pdf", "-interaction=nonstopmode", "main.tex"], root, figbuild=False))
    assert result.stdout.count("figbuild: not installed") == 1, "the hook is a no-op without figbuild"
    assert (root / "main.pdf").is_file()
    assert (root / "main.gls").is_file(), "makeglossaries ran through the kept custom dependency"
    text = ok(run(["pdftotext", "main.pdf", "-"], root)).stdout
    assert "Glossary" in text
    assert "a dense map of displacements" in text

    # Without the rule (an empty latexmkrc, as Overleaf's defaults dropped), no glossary.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy2(root / "main.tex", bare / "main.tex")
    (bare / "latexmkrc").write_text("$pdf_mode = 1;\n")
    ok(run(["latexmk", "-pdf", "-interaction=nonstopmode", "main.tex"], bare, figbuild=False))
    assert not (bare / "main.gls").exists()


@pytest.mark.parametrize(
    ("edit", "figure"),
    [
        ("figures.yaml", "teaser"),
        ("paper.md", "training-loop"),  # a content source LaTeX never reads
    ],
)
def test_latexmk_rebuilds_after_an_edit_to_a_figbuild_input_alone(
    paper: Path, tmp_path: Path, edit: str, figure: str, api: dict[str, str]
) -> None:
    _need("latexmk", "pdflatex", "pdfimages")
    flags = api
    ok(run(LATEXMK, paper, **flags))
    before = image_hashes(paper / "paper.pdf", tmp_path)
    assert "Nothing to do" in ok(run(LATEXMK, paper, **flags)).stdout
    path = paper / edit
    text = path.read_text(encoding="utf-8")
    if edit == "figures.yaml":
        text = text.replace("Three-panel teaser", "A three-panel teaser")
    else:
        text = text.replace("## Training\n", "## Training\n\nWe also train longer.\n", 1)
    path.write_text(text, encoding="utf-8")
    result = ok(run(LATEXMK, paper, **flags))
    assert f"{figure}: written" in result.stderr, result.stdout[-2000:]
    after = image_hashes(paper / "paper.pdf", tmp_path)
    assert len(after) == len(before)
    assert len(set(after) - set(before)) == 1, "the PDF holds the new image, and only that one changed"
    assert status_states(paper)[figure] == "fresh"


class Pvc:
    """A background `latexmk -pvc` (no viewer), stopped by its pid."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.log = (root / "pvc.log").open("w")
        # The recipe's command, made non-interactive: no viewer, no prompt on a TeX error.
        command = recipe("pvc").split()
        assert command == ["latexmk", "-pdf", "-pvc", "paper.tex"]
        self.process = subprocess.Popen(
            [*command[:-1], "-view=none", "-interaction=nonstopmode", command[-1]],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert self.process.poll() is None, "latexmk -pvc exited:\n" + self.output()
            if time.monotonic() > deadline:
                pytest.fail(f"latexmk -pvc: no {what} within {timeout}s:\n{self.output()[-4000:]}")
            time.sleep(0.5)  # each check runs `figbuild status`: leave the CPU to latexmk

    def output(self) -> str:
        self.log.flush()
        return (self.root / "pvc.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # latexmk and the pdflatex it runs
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def test_latexmk_pvc_follows_content_edits_and_recovers_from_a_broken_manifest(
    paper: Path, api: dict[str, str]
) -> None:
    _need("latexmk", "pdflatex")
    pdf, lock = paper / "paper.pdf", paper / "figures.lock"
    pvc = Pvc(paper, _env(**api))

    def built_after(path: Path) -> Callable[[], bool]:
        return lambda: pdf.exists() and path.exists() and pdf.stat().st_mtime_ns > path.stat().st_mtime_ns

    def fresh_and_built(figure: str) -> Callable[[], bool]:
        return lambda: (
            status_states(paper)[figure] == "fresh" and built_after(paper / "figures" / f"{figure}.png")()
        )

    def fingerprint(figure: str) -> str | None:
        generated = read(lock).record(figure).generated
        return generated.fingerprint if generated else None

    try:
        pvc.wait_for(
            "first build", lambda: built_after(lock)() and set(status_states(paper).values()) == {"fresh"}
        )
        overview = read(lock).record("overview").generated
        overview_print = fingerprint("overview")
        # A content edit: the figure is regenerated and the PDF rebuilt.
        method = paper / "sections" / "method.tex"
        method.write_text(method.read_text() + "\nWe also add a sentence.\n")
        pvc.wait_for("regenerated overview", fresh_and_built("overview"))
        assert read(lock).record("overview").generated != overview
        # A broken manifest: one warning, the PDF is still rebuilt ...
        manifest = paper / "figures.yaml"
        good = manifest.read_text()
        manifest.write_text(good + "  broken: [\n")
        pvc.wait_for("build with a broken manifest", built_after(manifest))
        pvc.wait_for("the warning", lambda: "invalid YAML" in pvc.output())
        # ... and once it is fixed (with a change), -pvc recovers by itself.
        manifest.write_text(good.replace("Architecture overview of", "The architecture overview of"))
        regenerated = fresh_and_built("overview")
        pvc.wait_for("recovered sync", lambda: fingerprint("overview") != overview_print and regenerated())
    finally:
        pvc.stop()
    assert pvc.process.returncode is not None


# -- pandoc -----------------------------------------------------------------------------


def test_pandoc_recipe(paper: Path) -> None:
    _need("pandoc", "pdflatex", "pdfimages")
    result = ok(run(recipe("pandoc"), paper))
    assert "figbuild: warning" in result.stderr, "no key: the sync warns and the build goes on"
    assert (paper / "paper.html").is_file()
    listing = subprocess.run(
        ["pdfimages", "-list", str(paper / "paper-md.pdf")], capture_output=True, text=True
    )
    assert sum(1 for line in listing.stdout.splitlines()[2:] if " image " in line) == 4


# -- pre-commit -------------------------------------------------------------------------


def _git_repo(paper: Path) -> dict[str, str]:
    env = _env(
        GIT_AUTHOR_NAME="A",
        GIT_AUTHOR_EMAIL="a@example.org",
        GIT_COMMITTER_NAME="A",
        GIT_COMMITTER_EMAIL="a@example.org",
        PRE_COMMIT_HOME=str(paper.parent / "pre-commit-home"),
        GIT_CONFIG_GLOBAL=str(paper.parent / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
    )
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=paper, env=env, check=True)
    return env


def _commit(paper: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "add", "-A"], cwd=paper, env=env, check=True)
    return subprocess.run(
        ["git", "commit", "-q", "-m", message], cwd=paper, env=env, capture_output=True, text=True
    )


def _pre_commit(repository: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "add", "-A"], cwd=repository, env=env, check=True)
    return subprocess.run(
        ["pre-commit", "run", "--all-files"], cwd=repository, env=env, capture_output=True, text=True
    )


def test_pre_commit_recipe_blocks_a_commit_with_stale_figures(paper: Path, api: dict[str, str]) -> None:
    _need("git", "pre-commit")
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    config = yaml.safe_load(recipe("pre-commit"))
    (local,) = config["repos"][0]["hooks"]
    (shipped,) = hooks
    for key in ("id", "name", "entry", "pass_filenames", "always_run"):
        assert local[key] == shipped[key], f"the local recipe and .pre-commit-hooks.yaml agree on {key}"
    env = _git_repo(paper)
    (paper / ".pre-commit-config.yaml").write_text(recipe("pre-commit"))
    ok(subprocess.run(["pre-commit", "install"], cwd=paper, env=env, capture_output=True, text=True))
    # The committed example figures are placeholders: stale, so the commit is refused.
    refused = _commit(paper, env, "paper")
    assert refused.returncode != 0
    assert "not fresh" in refused.stdout + refused.stderr
    ok(run([SCRIPT or "figbuild", "sync"], paper, **api))
    accepted = _commit(paper, env, "paper with fresh figures")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


@pytest.mark.parametrize("subfolder", [False, True], ids=["paper-at-top", "paper-in-subfolder"])
def test_pre_commit_hook_from_the_repository_path(
    paper: Path, tmp_path: Path, api: dict[str, str], subfolder: bool
) -> None:
    """The shipped .pre-commit-hooks.yaml, used through `repo:` pointing at figbuild's own
    repository (a path: no network). ``language: system`` runs the figbuild installed
    here instead of building a fresh environment from the package index. With the paper
    in a subfolder, the hook takes ``args: [-C, paper]`` as the docs say."""
    _need("git", "pre-commit")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("figbuild's source is not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", ".pre-commit-hooks.yaml"], cwd=REPO, capture_output=True, text=True
    )
    if not tracked.stdout.strip():
        pytest.skip(".pre-commit-hooks.yaml is not committed yet")
    repository = paper
    hook: dict[str, object] = {"id": "figbuild-check", "language": "system"}
    if subfolder:
        repository = tmp_path / "thesis"
        shutil.move(paper, repository / "paper")
        hook["args"] = ["-C", "paper"]
    env = _git_repo(repository)
    config = {"repos": [{"repo": str(REPO), "rev": head.stdout.strip(), "hooks": [hook]}]}
    (repository / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    stale = _pre_commit(repository, env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "figbuild figures are fresh" in stale.stdout
    assert "not fresh" in stale.stdout
    ok(
        run(
            [SCRIPT or "figbuild", "-C", str(repository / "paper" if subfolder else paper), "sync"],
            tmp_path,
            **api,
        )
    )
    fresh = _pre_commit(repository, env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_pre_commit_recipe_for_a_paper_in_a_subfolder(
    paper: Path, tmp_path: Path, api: dict[str, str]
) -> None:
    """Real pre-commit, a ``repo: local`` hook with ``language: system`` (no environment
    to build, so no network), in a repository whose paper is in ``paper/``."""
    _need("git", "pre-commit")
    repository = tmp_path / "thesis"
    shutil.move(paper, repository / "paper")
    config = yaml.safe_load(recipe("pre-commit-subfolder"))
    (hook,) = config["repos"][0]["hooks"]
    assert hook["args"] == ["-C", "paper"]
    env = _git_repo(repository)
    without = {"repos": [{"repo": "local", "hooks": [{k: v for k, v in hook.items() if k != "args"}]}]}
    (repository / ".pre-commit-config.yaml").write_text(yaml.safe_dump(without))
    lost = _pre_commit(repository, env)
    assert lost.returncode == 1
    assert "figures.yaml" in lost.stdout, "without -C it finds no manifest: why the recipe has args"
    (repository / ".pre-commit-config.yaml").write_text(recipe("pre-commit-subfolder"))
    stale = _pre_commit(repository, env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "not fresh" in stale.stdout
    ok(run([SCRIPT or "figbuild", "-C", "paper", "sync"], repository, **api))
    fresh = _pre_commit(repository, env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "figbuild figures are fresh" in fresh.stdout


# -- CI ---------------------------------------------------------------------------------

#: Steps of the CI recipe this test does not run, and why.
NOT_RUN = {
    "actions/": "GitHub Actions set up the runner; here the test environment is that runner",
    "pip install": "figbuild is already installed in this environment (from this checkout)",
    "sudo apt-get": "TeX is already installed here (.ci/run installs it)",
}


def test_ci_recipe_runs_step_by_step(paper: Path, server: Emulator) -> None:
    _need("make", "latexmk", "pdflatex")
    workflow = yaml.safe_load(recipe("ci"))
    steps = workflow["jobs"]["figures"]["steps"]
    # The order matters: the committed figures are stale, so checking first would fail.
    assert run([SCRIPT or "figbuild", "status", "--check"], paper).returncode == 1
    ran = []
    for step in steps:
        command = step.get("run") or step.get("uses")
        if any(command.startswith(prefix) for prefix in NOT_RUN):
            continue
        env = {}
        for key, value in (step.get("env") or {}).items():
            # The secret: the emulator's key, with the emulator as the API.
            env[key] = EMULATOR_KEY if "secrets." in value else value
            env["PAPERBANANA_BASE_URL"] = server.base_url
        ok(run(command, paper, **env))
        ran.append(command)
    assert ran == ["figbuild sync --max-credits 100", "figbuild status --check", "make pdf"]
    assert (paper / "paper.pdf").is_file()
