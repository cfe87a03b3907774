"""``sync --best-effort``: a sync for build hooks that never fails the build.

Whatever stops a figure -- no key, no network, no credits, a manifest or content
error -- becomes one warning for that figure saying what was skipped and how to
fix it; a build hook prints them summed up in one line (``BestEffortResult.summary``).
Existing images are kept; a figure left without any image gets a placeholder, so
LaTeX or pandoc still finds a file to include. Only Ctrl-C
(``Interrupted``) still escapes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

from figbuild import atomic, engine, fastpath, images, lockfile, provenance
from figbuild import manifest as manifests
from figbuild.backends import default_terms
from figbuild.backends.base import Backend
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.cache import Cache
from figbuild.digests import sha256_file
from figbuild.errors import FigbuildError, Interrupted, ManifestError, Problem, UsageError
from figbuild.manifest import Figure, Manifest
from figbuild.paper import Paper
from figbuild.placeholder import placeholder_image
from figbuild.plan import make_plan
from figbuild.report import Reporter, announce_plan
from figbuild.resolve import resolve
from figbuild.state import FigureStatus, State
from figbuild.statedir import run_lock
from figbuild.timestamps import now

#: What a fix for a manifest problem starts with.
MANIFEST_FIX = "fix figures.yaml (`figbuild validate` lists every problem)"
#: ... and for a figure whose content cannot be read (a section renamed, a file not made yet).
CONTENT_FIX = "fix its content or the selector in figures.yaml (`figbuild validate` lists every problem)"
#: Lock fingerprint of a placeholder drawn for a figure that could not be resolved:
#: it matches no request, so the next sync that can resolve the figure replaces it.
UNRESOLVED = "unresolved"
#: How many figure ids the summary line names.
SHOWN = 4
#: Distinct reasons named in the summary line.
REASONS_SHOWN = 3


@dataclass
class BestEffortResult:
    generated: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    #: One line per figure that was skipped (or per problem that stopped every figure).
    warnings: list[str] = field(default_factory=list)
    #: For each warning: the figure it is about (None: not one figure) and why, for the summary.
    skipped: list[tuple[str | None, str]] = field(default_factory=list)
    credits_spent: int = 0
    #: The paper root and the outputs of the figures synced (for the no-op fast path).
    root: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    #: Whether every warning follows from the paper's files and the environment alone
    #: (no key configured, a manifest or content problem), so that the same run would
    #: print the same again: then a run that changed nothing may be replayed.
    repeatable: bool = True
    #: The disclosure file, when this run wrote it.
    disclosure: str | None = None

    def warn(self, line: str, figure: str | None = None, why: str | None = None) -> None:
        self.warnings.append(line)
        self.skipped.append((figure, line if why is None else why))

    def summary(self) -> str | None:
        """The one warning line a build hook prints for this sync (None: nothing skipped).

        One warning is shown as it is; several are summed up: how many figures, and each
        distinct reason with the figures it stopped (the first few), the reasons that
        stopped fewest figures first: a content error of one figure is not lost behind
        the missing key that stopped them all.
        """
        if len(self.warnings) <= 1:
            return self.warnings[0] if self.warnings else None
        figures = list(dict.fromkeys(figure for figure, _ in self.skipped if figure is not None))
        groups: dict[str, list[str]] = {}
        for figure, why in self.skipped:
            names = groups.setdefault(why, [])
            if figure is not None and figure not in names:
                names.append(figure)
        ordered = sorted(groups.items(), key=lambda item: len(item[1]))
        parts = [f"{_some(names)} ({why})" if names else why for why, names in ordered[:REASONS_SHOWN]]
        if len(ordered) > REASONS_SHOWN:
            parts.append(f"{len(ordered) - REASONS_SHOWN} other reasons")
        if not figures:
            return f"{'; '.join(parts)}; `-v` shows each"
        noun = "figure" if len(figures) == 1 else "figures"
        drawn = len(set(self.placeholders) & set(figures))
        kept = "each keeps its image"
        if drawn:
            kept = f"placeholders stand in for {drawn}, the others keep theirs"
        head = f"{len(figures)} {noun} not synced"
        if len(ordered) == 1:  # one reason for all: name the figures, then why
            return f"{head} ({_some(figures)}): {ordered[0][0]}; {kept}; `-v` shows each"
        return f"{head}: {'; '.join(parts)}; {kept}; `-v` shows each"


def _some(names: list[str]) -> str:
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


BackendFactory = Callable[[], AbstractContextManager[Backend]]


@dataclass(frozen=True)
class _Options:
    force: bool
    max_credits: int | None
    jobs: int | None


def sync(
    directory: Path,
    backend: BackendFactory,
    reporter: Reporter,
    *,
    ids: tuple[str, ...] = (),
    force: bool = False,
    max_credits: int | None = None,
    jobs: int | None = None,
    search_parents: bool = False,
) -> BestEffortResult:
    """Sync what can be synced; turn everything else into warnings. Never raises
    a FigbuildError except :class:`Interrupted`."""
    result = BestEffortResult()
    try:
        path = manifests.find(directory, search_parents=search_parents)
        cache = Cache(path.parent)
        manifest, problems = manifests.check(path, cache)
    except FigbuildError as exc:
        result.warn(f"skipped every figure: {_one_line(exc)}")
        result.repeatable = False
        return result
    result.root = path.parent
    if manifest is None:
        for problem in problems:
            result.warn(f"skipped every figure, kept their images: {_flat(problem)}; {MANIFEST_FIX}")
        return result
    try:
        selected = manifest.select(ids)
    except FigbuildError as exc:
        result.warn(f"skipped: {_one_line(exc)}")
        return result
    wanted = set(ids)
    broken = {k: v for k, v in _group(problems).items() if not wanted or k in wanted}
    broken.update(_unresolvable(manifest, [f for f in selected if f.id not in broken], cache))
    every = [*problems, *(problem for found in broken.values() for problem in found)]
    result.repeatable = not any(_decided_elsewhere(problem) for problem in every)
    good = tuple(figure for figure in selected if figure.id not in broken)
    result.root, result.outputs = manifest.root, [manifest.root / figure.output for figure in good]
    try:
        if good:
            paper = Paper(replace(manifest, figures=good), cache, default_terms())
            _sync_good(paper, backend, reporter, result, _Options(force, max_credits, jobs))
            _fill_missing(paper, reporter, result)
        for figure_id, figure_problems in broken.items():
            _broken(manifest, figure_id, figure_problems, result)
        _disclose(manifest, bool(broken or problems), force, result)
    except Interrupted:
        raise
    except FigbuildError as exc:  # e.g. the lock cannot be read: nothing was written
        result.warn(f"skipped the rest, kept their images: {_one_line(exc)}")
        result.repeatable = False
    return result


def _decided_elsewhere(problem: Problem) -> bool:
    """Whether a manifest or content problem may change without any file the run noted
    changing: where symlinks lead decides the path checks."""
    text = problem.message
    return problem.key in ("output", "output_dir") or "outside" in text or "links to" in text


def _disclose(manifest: Manifest, incomplete: bool, force: bool, result: BestEffortResult) -> None:
    """Keep the disclosure file current whenever every figure is known; else say why not."""
    from figbuild import disclosure

    output = manifest.disclosure.output if manifest.disclosure else None
    if output is None:
        return
    if incomplete:
        result.warn(f"{output}: not updated, since figures.yaml has problems; {MANIFEST_FIX}")
        return
    try:
        done = disclosure.refresh(manifest, manifest.root / lockfile.LOCK_NAME, force=force)
    except Interrupted:
        raise
    except FigbuildError as exc:
        result.warn(f"{output}: not updated: {_one_line(exc)}")
        result.repeatable = False
        return
    if done is disclosure.Refreshed.WRITTEN:
        result.disclosure = output
    elif done is disclosure.Refreshed.KEPT:
        result.warn(f"{output}: edited by hand, so kept; `figbuild sync --force` rewrites it")


def _broken(manifest: Manifest, figure_id: str, problems: list[Problem], result: BestEffortResult) -> None:
    """The warning for a figure the manifest gets wrong; a placeholder if it has no image."""
    figure = next((f for f in manifest.figures if f.id == figure_id), None)
    if figure is None:  # its entry itself is invalid: not even its output is known
        kept = "kept its image, if any"
    else:
        result.outputs.append(manifest.root / figure.output)  # whether it exists is said
        kept = "drew a placeholder" if _draw_unresolved(manifest, figure, result) else "kept its image"
    detail = "; ".join(_flat(problem, with_figure=False) for problem in problems)
    fix = CONTENT_FIX if all(problem.key == "content" for problem in problems) else MANIFEST_FIX
    why = f"{detail}; {fix}"
    result.warn(f"{figure_id}: skipped ({detail}); {kept}; {fix}", figure_id, why)


def _sync_good(
    paper: Paper,
    backend: BackendFactory,
    reporter: Reporter,
    result: BestEffortResult,
    options: _Options,
) -> None:
    """The ordinary sync of the figures that resolve; its failures become warnings."""
    ids = tuple(figure.id for figure in paper.manifest.figures)
    statuses = {status.id: status for status in paper.statuses(paper.resolve(), paper.read_lock())}
    quiet = _NoFailures(reporter)
    with backend() as chosen:
        plan = make_plan(
            statuses.values(),
            force=options.force,
            provisional=chosen.provisional,
            terms=chosen.terms,
            makes=chosen.makes,
        )
        try:
            # Named explicitly: the broken figures are not this sync's to touch.
            done = engine.sync(
                paper,
                chosen,
                quiet,
                ids=ids,
                force=options.force,
                max_credits=options.max_credits,
                jobs=options.jobs,
            )
        except Interrupted:
            raise
        except FigbuildError as exc:
            # Nothing was produced: every figure the plan wanted is skipped for this reason.
            wanted = [*plan.generate, *(status for status, _ in plan.resume)]
            for status in _unique(wanted):
                _skipped(result, status, _one_line(exc))
            # No key configured is a fact of the environment (part of the fast path's
            # key); a refused key, the network or the server are not.
            result.repeatable &= isinstance(exc, UsageError) and not fastpath.key_configured()
            return
    result.generated.extend(done.generated)
    result.credits_spent += done.credits_spent
    for figure_id, reason in done.failed:
        _skipped(result, statuses[figure_id], reason)
        result.repeatable = False


def _fill_missing(paper: Paper, reporter: Reporter, result: BestEffortResult) -> None:
    """Placeholders for the figures that still have no image file."""
    missing = tuple(f.id for f in paper.manifest.figures if not (paper.root / f.output).exists())
    if not missing:
        return
    placeholders = PlaceholderBackend()
    done = engine.sync(paper, placeholders, _NoFailures(reporter), ids=missing)
    result.placeholders.extend(done.generated)


def _draw_unresolved(manifest: Manifest, figure: Figure, result: BestEffortResult) -> bool:
    """A placeholder for a figure that cannot be resolved, if it has no image; recorded
    in the lock as a placeholder for no request, so that a later sync replaces it."""
    target = manifest.root / figure.output
    if target.exists():
        return False
    try:
        fmt = images.format_for(figure.output)
    except FigbuildError:
        return False
    data = placeholder_image(figure.id, figure.prompt, figure.resolution, figure.aspect_ratio, fmt)
    data = provenance.stamp(data, fmt, provenance.Provenance("placeholder", generated_at=now()))
    with run_lock(manifest.root):
        lock_path = manifest.root / lockfile.LOCK_NAME
        lock = lockfile.read(lock_path)
        atomic.write_bytes(target, data)
        generated = lockfile.Generated(
            fingerprint=UNRESOLVED,
            parts=_known_parts(figure),
            output=figure.output,
            sha256=sha256_file(target) or "",
            generated_at=now(),
            how="placeholder",
        )
        lockfile.write(lock_path, lock.with_generated(figure.id, generated))
    result.placeholders.append(figure.id)
    return True


def _known_parts(figure: Figure) -> dict[str, str]:
    """The fingerprint parts an unresolved figure has, so that once it resolves its
    reasons name only what the placeholder lacked (content, vars), not every option."""
    template = hashlib.sha256(figure.prompt.encode("utf-8")).hexdigest()
    return {
        "type": figure.mode,
        "model": figure.model,
        "resolution": figure.resolution,
        "aspect_ratio": figure.aspect_ratio,
        "template": template,
    }


def _unresolvable(manifest: Manifest, figures: list[Figure], cache: Cache) -> dict[str, list[Problem]]:
    """The figures whose prompt or content cannot be resolved, with their problems."""
    try:
        resolve(manifest, figures, cache)
        return {}
    except ManifestError as exc:
        return _group(exc.problems)


def _group(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.figure is not None:
            grouped.setdefault(problem.figure, []).append(problem)
    return grouped


def _skipped(result: BestEffortResult, status: FigureStatus, why: str) -> None:
    state = status.state.value + (f": {'; '.join(status.reasons)}" if status.reasons else "")
    kept = "a placeholder stands in" if status.state is State.MISSING else "kept its image"
    result.warn(f"{status.id}: not synced ({state}): {why}; {kept}", status.id, why)


def _one_line(exc: FigbuildError) -> str:
    text = exc.message if not isinstance(exc, ManifestError) else "; ".join(map(_flat, exc.problems))
    return " ".join((text + (f"; {exc.hint}" if exc.hint else "")).split())


def _flat(problem: Problem, with_figure: bool = True) -> str:
    if not with_figure:
        problem = replace(problem, figure=None)
    return " ".join(str(problem).split())


def _unique(statuses: Iterable[FigureStatus]) -> Iterator[FigureStatus]:
    seen: set[str] = set()
    for status in statuses:
        if status.id not in seen:
            seen.add(status.id)
            yield status


class _NoFailures:
    """Passes progress on, but not ``failed`` events: those become the warnings."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def info(self, message: str) -> None:
        self.reporter.info(message)

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        if event != "failed":
            self.reporter.figure(figure_id, event, detail, credits)

    def planned(self, figures: int, credits: int) -> None:
        announce_plan(self.reporter, figures, credits)
