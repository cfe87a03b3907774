"""GitHub Actions: problems as annotations on their file and line, a step summary, step outputs.

Under ``GITHUB_ACTIONS=true`` (or with ``--format github``), ``validate``, ``status`` and
``sync`` print workflow commands (``::error file=…,line=…::message``) on stdout, where
the runner reads them and shows them on the pull request's lines; append a Markdown
summary to the file named by ``GITHUB_STEP_SUMMARY``; and set step outputs in the
file named by ``GITHUB_OUTPUT``. The repository's ``action.yml`` is only a thin
wrapper around that. A file the runner did not name is simply not written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.errors import FileError
from figbuild.output import StatusRow, summary_line
from figbuild.records import frozen
from figbuild.state import FigureStatus

if TYPE_CHECKING:
    from figbuild.besteffort import BestEffortResult
    from figbuild.engine import SyncResult
    from figbuild.errors import Problem
    from figbuild.plan import Plan

#: The formats of ``validate`` and ``status``.
FORMATS = ("text", "json", "github")


def active(environ: Mapping[str, str] | None = None) -> bool:
    """Running as a step of a GitHub Actions job."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def choose_format(requested: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The format asked for; without one, ``github`` in a GitHub Actions job, else ``text``."""
    if requested is not None:
        return requested
    return "github" if active(environ) else "text"


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped, so it stays one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which end it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@frozen
class Annotation:
    """One ``::error``/``::warning`` workflow command."""

    level: str
    message: str
    file: str | None = None
    line: int | None = None
    title: str | None = None

    def __str__(self) -> str:
        properties = [
            f"{name}={escape_property(str(value))}"
            for name, value in (("file", self.file), ("line", self.line), ("title", self.title))
            if value is not None
        ]
        head = f"{self.level} {','.join(properties)}" if properties else self.level
        return f"::{head}::{escape_data(self.message)}"


def location(root: Path, name: str, environ: Mapping[str, str] | None = None) -> str:
    """``name`` (relative to the paper root) relative to the checkout, as annotations
    need it: ``paper/figures.yaml`` for a paper in a subfolder."""
    environ = os.environ if environ is None else environ
    workspace = Path(environ.get("GITHUB_WORKSPACE") or Path.cwd())
    path = os.path.relpath((root / name).resolve(), workspace.resolve())
    return Path(path).as_posix()


def problem_annotations(
    problems: Iterable[Problem], root: Path, *, level: str = "error", environ: Mapping[str, str] | None = None
) -> list[Annotation]:
    """A manifest problem (or warning) on its file and line."""
    annotations = []
    for problem in problems:
        subject = [f"figure '{problem.figure}'"] if problem.figure else []
        subject += [f"key '{problem.key}'"] if problem.key else []
        message = problem.message + (f" (hint: {problem.hint})" if problem.hint else "")
        title = "figbuild: " + (", ".join(subject) or "figures.yaml")
        file = location(root, problem.path, environ)
        annotations.append(Annotation(level, message, file=file, line=problem.line, title=title))
    return annotations


def status_annotations(
    rows: Sequence[StatusRow],
    manifest: Path,
    *,
    level: str = "error",
    environ: Mapping[str, str] | None = None,
) -> list[Annotation]:
    """An annotation on the manifest entry of every figure ``status --check`` refuses."""
    file = location(manifest.parent, manifest.name, environ)
    annotations = []
    for row in rows:
        if row.state.passes_check or not isinstance(row, FigureStatus):
            continue
        why = "; ".join(row.reasons) or row.state.value
        message = f"{row.output} is {row.state.value}: {why}. Run `figbuild sync` and commit the figure."
        title = f"figbuild: figure '{row.id}' is {row.state.value}"
        annotations.append(Annotation(level, message, file=file, line=row.resolved.figure.line, title=title))
    return annotations


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def status_summary(
    rows: Sequence[StatusRow], plan: Plan | None = None, title: str = "figbuild status"
) -> list[str]:
    """The status table in Markdown, then the totals and what a sync would cost (the
    plan's cost, as `status` and `sync --dry-run` count it)."""
    lines = [f"### {title}", "", "| figure | state | output | reasons |", "|---|---|---|---|"]
    marks = {True: "✅", False: "❌"}
    for row in rows:
        state = f"{marks[row.state.passes_check]} {row.state.value}"
        lines.append(
            f"| `{_cell(row.id)}` | {state} | `{_cell(row.output)}` | {_cell('; '.join(row.reasons))} |"
        )
    lines.extend(["", summary_line(rows, plan), ""])
    return lines


def sync_summary(result: SyncResult) -> list[str]:
    """What a sync did, for the step summary: counts, credits spent, what failed and why."""
    lines = [
        "### figbuild sync",
        "",
        f"generated {len(result.generated)}, restored {len(result.restored)}, failed {len(result.failed)}; "
        f"**{result.credits_spent} credits spent**"
        + (f", {result.balance} remaining" if result.balance is not None else ""),
    ]
    if result.refusal is not None:
        lines.append(f"refused: {result.refusal}")
    lines.extend(f"- ❌ `{_cell(figure_id)}`: {_cell(reason)}" for figure_id, reason in result.failed)
    return [*lines, ""]


def best_effort_summary(result: BestEffortResult) -> list[str]:
    """What a best-effort sync did, for the step summary."""
    lines = [
        "### figbuild sync --best-effort",
        "",
        f"generated {len(result.generated)}, placeholders {len(result.placeholders)}, "
        f"skipped {len(result.warnings)}; **{result.credits_spent} credits spent**",
    ]
    lines.extend(f"- ⚠️ {_cell(warning)}" for warning in result.warnings)
    return [*lines, ""]


def sync_annotations(
    result: SyncResult, manifest: Path, environ: Mapping[str, str] | None = None
) -> list[Annotation]:
    """An error on the manifest entry of every figure the sync could not produce."""
    file = location(manifest.parent, manifest.name, environ)
    lines = {status.id: status.resolved.figure.line for status in result.statuses}
    annotations = [
        Annotation(
            "error", reason, file=file, line=lines.get(figure_id), title=f"figbuild: {figure_id} failed"
        )
        for figure_id, reason in result.failed
    ]
    if result.refusal is not None:
        annotations.append(Annotation("error", result.refusal, file=file, title="figbuild: sync refused"))
    return annotations


def sync_outputs(result: SyncResult) -> dict[str, str]:
    return {
        "credits-spent": str(result.credits_spent),
        "generated": " ".join(result.generated),
        "failed": " ".join(figure_id for figure_id, _ in result.failed),
    }


def status_outputs(rows: Sequence[StatusRow], plan: Plan | None = None) -> dict[str, str]:
    behind = [row.id for row in rows if not row.state.passes_check]
    return {
        "fresh": "true" if not behind else "false",
        "not-fresh": " ".join(behind),
        "figures": str(sum(isinstance(row, FigureStatus) for row in rows)),
        "cost": str(plan.cost if plan is not None else 0),
    }


def append_summary(lines: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """Append Markdown to the job's step summary, if the runner named one."""
    _append("GITHUB_STEP_SUMMARY", "\n".join(lines) + "\n", environ)


def set_outputs(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
    """Set step outputs, if the runner named the file (multi-line values as heredocs)."""
    text = ""
    for name, value in values.items():
        if "\n" in value:
            import secrets

            delimiter = f"figbuild_{secrets.token_hex(8)}"
            text += f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
        else:
            text += f"{name}={value}\n"
    _append("GITHUB_OUTPUT", text, environ)


def _append(variable: str, text: str, environ: Mapping[str, str] | None) -> None:
    path = (os.environ if environ is None else environ).get(variable)
    if not path:
        return
    fastpath.unrepeatable()  # a replayed run would not write the file
    try:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise FileError(f"cannot append to {variable} ({path}): {exc.strerror}") from None
