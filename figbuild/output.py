"""Everything figbuild prints: reporters for terminals and logs, tables, redaction.

The API key is scrubbed from every line written here, whatever its source.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from figbuild import fastpath
from figbuild.backends import redact
from figbuild.records import frozen
from figbuild.report import FINAL_EVENTS
from figbuild.state import ErrorStatus, FigureStatus, OrphanStatus, State

#: A row of ``status``: a figure of the manifest, or an orphaned lock record.
StatusRow = FigureStatus | OrphanStatus | ErrorStatus

if TYPE_CHECKING:  # not imported at run time: status must not load requests
    from figbuild.backends.paperbanana.client import Credits, Task
    from figbuild.besteffort import BestEffortResult
    from figbuild.engine import SyncResult
    from figbuild.errors import Problem
    from figbuild.history import Log
    from figbuild.plan import Plan


class Console:
    """Writes lines to stdout/stderr, respecting -q and -v."""

    def __init__(self, verbosity: int = 0, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def print(self, text: str = "") -> None:
        """Requested output: to stdout, always."""
        fastpath.transcribe(1, _write(self.out, text + "\n"))

    def note(self, text: str) -> None:
        """Progress and hints: to stderr, silenced by -q."""
        if self.verbosity >= 0:
            fastpath.transcribe(2, _write(self.err, text + "\n"))

    def debug(self, text: str) -> None:
        """Detail for -v: to stderr."""
        if self.verbosity > 0:
            fastpath.transcribe(2, _write(self.err, text + "\n"))

    def error(self, text: str) -> None:
        """Errors: to stderr, even with -q."""
        fastpath.transcribe(2, _write(self.err, text + "\n"))


def _write(stream: TextIO, text: str) -> str:
    """Write ``text`` (redacted) and flush; returns what was written."""
    text = redact(text)
    stream.write(text)
    stream.flush()
    return text


class LineReporter:
    """The core's Reporter as one plain line per event (logs, CI, -q)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()

    def info(self, message: str) -> None:
        fastpath.unrepeatable()  # e.g. "another figbuild run holds this paper"
        self.console.note(message)

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        line = self._line(figure_id, event, detail)
        if event == "failed":
            self.console.error(line)
        else:
            self.console.note(line)

    def _line(self, figure_id: str, event: str, detail: str) -> str:
        fastpath.unrepeatable()  # the line shows the time elapsed
        elapsed = time.monotonic() - self.started
        return f"[{elapsed:6.1f}s] {figure_id}: {event}" + (f" ({detail})" if detail else "")

    def close(self) -> None:
        pass


@frozen
class Progress:
    """What the live display shows: each figure in flight (event, seconds), and the totals."""

    flight: Sequence[tuple[str, str, float]]
    done: int
    total: int
    credits: int
    elapsed: float

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far; None before the first figure is done."""
        if not self.done or self.total <= self.done:
            return None
        return self.elapsed / self.done * (self.total - self.done)


def live_block(progress: Progress, rows: int, columns: int) -> list[str]:
    """The live block for a terminal of ``rows`` x ``columns``: one line per figure in
    flight, cropped with "… N more" so that the block and the line the cursor rests on
    fit on the screen (a taller block scrolls, and every redraw then leaves a copy in
    the scrollback), and each line cut short of the last column (so none wraps)."""
    room = max(rows - 1, 1)  # the cursor's line, below the block
    footer = f"  {progress.done} of {progress.total} done" if progress.total else "  "
    footer += f", {len(progress.flight)} in flight" if progress.total else f"{len(progress.flight)} in flight"
    footer += f", {progress.credits} credits spent, {_duration(progress.elapsed)} elapsed"
    if progress.eta is not None:
        footer += f", ETA {_duration(progress.eta)}"
    flight = sorted(progress.flight)
    shown = flight if len(flight) <= room - 1 else flight[: max(room - 2, 0)]
    width = max((len(figure_id) for figure_id, _, _ in shown), default=0)
    lines = [f"  {figure_id:<{width}}  {event:<10} {seconds:6.1f}s" for figure_id, event, seconds in shown]
    if len(shown) < len(flight) and room >= 2:
        lines.append(f"  … {len(flight) - len(shown)} more in flight")
    lines.append(footer)
    return [line[: max(columns - 1, 1)] for line in lines[-room:]]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class TerminalReporter(LineReporter):
    """On a terminal: finished figures scroll by as lines; below them, a live block
    with the figures in flight (as many as the screen holds), k of n done, the credits
    spent, the time elapsed and an ETA. Hand-written rather than rich or click's
    progress bar: this module is below the CLI (no click), and a dependency for one
    block of lines is not worth its import on every sync."""

    def __init__(self, console: Console, refresh: float = 0.5) -> None:
        super().__init__(console)
        self._flight: dict[str, tuple[str, float]] = {}
        self._credits = 0
        self._total = 0
        self._done: set[str] = set()
        self._since = time.monotonic()
        self._drawn = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(refresh,), daemon=True)
        self._ticker.start()

    def info(self, message: str) -> None:
        fastpath.unrepeatable()
        with self._lock:
            self._print(message)

    def planned(self, figures: int, credits: int) -> None:
        """A run begins with ``figures`` to finish: k of n and the ETA count from here."""
        with self._lock:
            self._total, self._done, self._since, self._credits = figures, set(), time.monotonic(), 0

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        fastpath.unrepeatable()
        with self._lock:
            self._credits += credits
            if event in FINAL_EVENTS:
                self._flight.pop(figure_id, None)
                if self._total:
                    self._done.add(figure_id)
                self._print(self._line(figure_id, event, detail))
            else:
                since = self._flight.get(figure_id, ("", time.monotonic()))[1]
                self._flight[figure_id] = (event, since)
                self._redraw()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._erase()
            self.console.err.flush()

    def _tick(self, refresh: float) -> None:
        while not self._closed.wait(refresh):
            with self._lock:
                if self._flight:
                    self._redraw()

    def _print(self, line: str) -> None:
        self._erase()
        _write(self.console.err, line + "\n")
        self._draw()

    def _redraw(self) -> None:
        self._erase()
        self._draw()

    def _erase(self) -> None:
        if self._drawn:
            # Up to the first line of the block, then clear to the end of the screen.
            self.console.err.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        if not self._flight:
            self.console.err.flush()
            return
        now = time.monotonic()
        progress = Progress(
            flight=[(figure_id, event, now - since) for figure_id, (event, since) in self._flight.items()],
            done=min(len(self._done), self._total),
            total=self._total,
            credits=self._credits,
            elapsed=now - self._since,
        )
        columns, rows = _terminal_size(self.console.err)
        lines = live_block(progress, rows, columns)
        self.console.err.write("\n".join(lines) + "\n")
        self.console.err.flush()
        self._drawn = len(lines)


def _terminal_size(stream: TextIO) -> tuple[int, int]:
    """(columns, rows) of the terminal ``stream`` writes to, read again at every draw (the
    window may be resized); 80 x 24 when it cannot be told."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    return size.columns or 80, size.lines or 24


def reporter_for(console: Console) -> LineReporter:
    """A live display on a terminal; plain lines in logs, pipes and with -q."""
    if console.verbosity >= 0 and console.err.isatty() and os.environ.get("TERM") != "dumb":
        return TerminalReporter(console)
    return LineReporter(console)


def status_table(
    statuses: Sequence[StatusRow],
    verbose: bool = False,
    plan: Plan | None = None,
    left: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """One line per figure, the outputs left behind, then the totals and what a sync
    would cost (``plan``'s count: the same as ``sync --dry-run``)."""
    width = max((len(s.id) for s in statuses), default=0)
    lines = []
    for status in statuses:
        state, reasons_of = row_state(status, plan)
        reasons = (
            "; ".join(reasons_of)
            if status.state is not State.FRESH or verbose or reasons_of != status.reasons
            else ""
        )
        line = f"{status.id:<{width}}  {state:<8}  {status.output}"
        lines.append(line + (f"  ({reasons})" if reasons else ""))
    for figure_id, paths in sorted((left or {}).items()):
        lines.extend(
            f"left behind: {path} (an old output of {figure_id}; `figbuild prune` stores and removes it)"
            for path in paths
        )
    lines.append(summary_line(statuses, plan))
    return lines


def row_state(status: StatusRow, plan: Plan | None) -> tuple[str, tuple[str, ...]]:
    """A figure's state as status words it, with the reasons: ``missing (in history)`` and
    ``stale (in history)`` when a sync puts its image back from history for 0 credits, and
    the candidates a sync would add to a figure that is otherwise fresh."""
    if plan is None or isinstance(status, (OrphanStatus, ErrorStatus)):
        return status.state.value, status.reasons
    source = plan.sources().get(status.id)
    if source is not None:
        others = tuple(r for r in status.reasons if r not in ("never generated", "output file is gone"))
        entry = source.entry
        where = f"{entry.how.value} {entry.when}" if entry is not None else f"at {source.path}"
        found = f"its image for these inputs is in history ({where}): restored for 0 credits"
        return f"{status.state.value} (in history)", (found, *others)
    more = plan.topup.get(status.id)
    if more:
        plural = "s" if len(more) != 1 else ""
        wanted = f"{len(more)} more candidate{plural} wanted ({plan.cost_of(status)} credits)"
        return status.state.value, (*status.reasons, wanted)
    return status.state.value, status.reasons


def summary_line(statuses: Iterable[StatusRow], plan: Plan | None = None) -> str:
    statuses = list(statuses)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state.value] = counts.get(status.state.value, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    cost = plan.cost if plan is not None else 0
    figures = f"{len(statuses)} figure{'s' if len(statuses) != 1 else ''}"
    return f"{figures}: {parts or 'none'}; a sync would cost {cost} credits"


def status_json(
    statuses: Sequence[StatusRow],
    plan: Plan | None = None,
    left: Mapping[str, Sequence[str]] | None = None,
    extra: Sequence[dict[str, Any]] = (),
) -> str:
    """The status as a JSON array; ``extra``: rows that are not figures (the disclosure file)."""
    costs = plan.costs() if plan is not None else {}
    sources = plan.sources() if plan is not None else {}
    rows: list[dict[str, Any]] = []
    for status in statuses:
        _, reasons = row_state(status, plan)
        row: dict[str, Any] = {
            "id": status.id,
            "state": status.state.value,
            "reasons": list(reasons),
            "output": status.output,
            "cost": costs.get(status.id, 0),
            "fingerprint": status.fingerprint,
            "in_history": status.id in sources,
        }
        failure = status.record.last_failure
        if failure is not None:
            row["last_failure"] = dataclasses.asdict(failure)
        if left and left.get(status.id):
            row["left_behind"] = list(left[status.id])
        rows.append(row)
    rows.extend(extra)
    return json.dumps(rows, indent=2)


def problem_dict(problem: Problem) -> dict[str, Any]:
    """A manifest problem as JSON: its file (relative to the paper root), line, figure,
    key, message and hint; absent ones are null."""
    return {
        "file": problem.path,
        "line": problem.line,
        "figure": problem.figure,
        "key": problem.key,
        "message": problem.message,
        "hint": problem.hint,
    }


def validate_json(
    manifest: str, figures: int, problems: Sequence[Problem], warnings: Sequence[Problem]
) -> str:
    """``validate --json``: valid or not, and every problem and warning as an object."""
    document = {
        "manifest": manifest,
        "valid": not problems,
        "figures": figures,
        "problems": [problem_dict(problem) for problem in problems],
        "warnings": [problem_dict(warning) for warning in warnings],
    }
    return json.dumps(document, indent=2)


def plan_lines(result: SyncResult) -> list[str]:
    """The plan of a ``sync --dry-run``: each figure, why, model, resolution, credits, and
    whether a real sync would refuse it."""
    plan = result.plan
    lines = []
    for status in plan.generate:
        request = status.resolved.request
        why = "; ".join(status.reasons) or "forced"
        count = plan.count(status)
        times = f", {count} candidates" if count > 1 else ""
        verb = "generate"
        if status.id in plan.topup:
            verb, why = "top-up  ", "history keeps fewer candidates than it asks for"
            times = f", {count} more candidate{'s' if count != 1 else ''}"
        lines.append(
            f"{verb} {status.id}: {status.state.value} ({why}); "
            f"{request.type}, {request.model}, {request.resolution}{times}, {plan.cost_of(status)} credits"
        )
    for status, source in plan.restore:
        lines.append(
            f"restore  {status.id}: {status.state.value}; the image made for these inputs, "
            f"{source.describe()}, 0 credits"
        )
    for status in plan.adopt:
        lines.append(f"record   {status.id}: {status.output} already holds its image, 0 credits")
    for status, pending in plan.resume:
        lines.append(f"collect  {status.id}: pending task {pending.task_id} (already paid)")
    for status, why in plan.skipped:
        lines.append(f"skip     {status.id}: {why}")
    if not lines:
        lines.extend(_nothing_to_do(result.statuses))
    lines.append(f"total: {len(plan.generate)} to generate, {plan.cost} credits")
    if result.refusal is not None:
        lines.append(f"refused: {result.refusal}")
    return lines


def _nothing_to_do(statuses: Sequence[FigureStatus]) -> list[str]:
    """Says "up to date" only when every figure is; else names the ones that are not."""
    behind = [status for status in statuses if not status.state.passes_check]
    if not behind:
        return ["nothing to do: every figure is up to date"]
    lines = [
        f"nothing to do, but {len(behind)} figure{'s are' if len(behind) != 1 else ' is'} not up to date:"
    ]
    lines.extend(f"  {s.id}: {s.state.value} ({'; '.join(s.reasons)})" for s in behind)
    return lines


def sync_summary(result: SyncResult) -> list[str]:
    """The closing lines of a sync: generated, skipped, failed, credits, balance."""
    if result.plan.empty and not result.failed:
        return _nothing_to_do(result.statuses)
    restored = f"restored {len(result.restored)}, " if result.restored else ""
    line = (
        f"generated {len(result.generated)}, {restored}skipped {len(result.plan.skipped)}, "
        f"failed {len(result.failed)}; {result.credits_spent} credits spent"
    )
    if result.balance is not None:
        line += f", {result.balance} remaining"
    lines = [line]
    lines.extend(f"  failed {figure_id}: {reason}" for figure_id, reason in result.failed)
    return lines


def plan_json(result: SyncResult) -> str:
    """The plan of a ``sync --dry-run --json``: each figure with its action and cost, and the total."""
    plan = result.plan
    figures: list[dict[str, Any]] = []
    for status in plan.generate:
        numbers = [n for n in plan.numbers(status) if n is not None]
        action = "top-up" if status.id in plan.topup else "generate"
        figures.append(
            {"id": status.id, "action": action, "state": status.state.value, "cost": plan.cost_of(status)}
            | ({"candidates": numbers} if numbers else {})
        )
    for status, source in plan.restore:
        figures.append(
            {
                "id": status.id,
                "action": "restore",
                "state": status.state.value,
                "cost": 0,
                "from": source.describe(),
            }
        )
    figures.extend(
        {"id": status.id, "action": "record", "state": status.state.value, "cost": 0} for status in plan.adopt
    )
    figures.extend(
        {
            "id": status.id,
            "action": "collect",
            "state": status.state.value,
            "cost": 0,
            "task_id": pending.task_id,
        }
        for status, pending in plan.resume
    )
    figures.extend(
        {"id": status.id, "action": "skip", "state": status.state.value, "cost": 0, "reason": why}
        for status, why in plan.skipped
    )
    document: dict[str, Any] = {"dry_run": True, "figures": figures, "total": plan.cost}
    if result.refusal is not None:
        document["refused"] = result.refusal
    return json.dumps(document, indent=2)


def sync_json(result: SyncResult) -> str:
    """The result of a sync as one JSON object."""
    done = set(result.generated) | {figure_id for figure_id, _ in result.failed}
    document = {
        "generated": result.generated,
        "restored": result.restored,
        "skipped": [status.id for status, _ in result.plan.skipped if status.id not in done],
        "failed": [{"id": figure_id, "reason": reason} for figure_id, reason in result.failed],
        "credits_spent": result.credits_spent,
        "balance": result.balance,
    }
    if result.refusal is not None:
        document["refused"] = result.refusal
    return json.dumps(document, indent=2)


def best_effort_json(result: BestEffortResult) -> str:
    """A best-effort sync as one JSON object: its placeholders and warnings too."""
    return json.dumps(
        {
            "generated": result.generated,
            "restored": [],
            "placeholders": result.placeholders,
            "skipped": [],
            "failed": [],
            "warnings": result.warnings,
            "credits_spent": result.credits_spent,
            "balance": None,
        },
        indent=2,
    )


def ignored_lines(rules: dict[str, str]) -> list[str]:
    """A warning per output that git ignores: the co-authors would not get it."""
    return [
        f"warning: {path} is ignored by git ({rule}), so co-authors would not get it and pay for it "
        f"again; un-ignore it (e.g. add '!{path}' to .gitignore) or `git add -f {path}`"
        for path, rule in sorted(rules.items())
    ]


def log_lines(log: Log) -> list[str]:
    """Each figure's versions, newest first, then the credit ledger."""
    lines: list[str] = []
    for figure in log.figures:
        lines.append(f"{figure.figure_id}:")
        if not figure.versions:
            lines.append("  no versions in history")
        for version in figure.versions:
            entry = version.entry
            mark = "*" if version.current else " "
            how = entry.how.value + (f" {entry.candidate}" if entry.candidate else "")
            task = f", task {entry.task_id}" if entry.task_id else ""
            trimmed = " (trimmed)" if entry.trimmed else ""
            changed = f": {entry.changed}" if entry.changed else ""
            credits = f"{entry.credits} credits{trimmed}"
            lines.append(f" {mark}{version.number:>3}  {entry.when}  {how}{task}, {credits}{changed}")
    ledger = log.ledger
    lines.append("credits by figure:")
    lines.extend(f"  {figure_id}: {credits}" for figure_id, credits in sorted(ledger.by_figure.items()))
    lines.append("credits by month:")
    lines.extend(f"  {month}: {credits}" for month, credits in sorted(ledger.by_month.items()))
    lines.append(f"credits in total: {ledger.total}")
    if ledger.pretend:
        lines.append(f"pretend credits (emulator and placeholder runs, not charged): {ledger.pretend}")
    return lines


def log_json(log: Log) -> list[str]:
    document = {
        "figures": {
            figure.figure_id: [
                {"version": v.number, "current": v.current, **dataclasses.asdict(v.entry)}
                for v in figure.versions
            ]
            for figure in log.figures
        },
        "ledger": dataclasses.asdict(log.ledger),
    }
    return [json.dumps(document, indent=2, default=str)]


def credits_lines(balance: Credits, as_json: bool) -> list[str]:
    if as_json:
        return [json.dumps(dataclasses.asdict(balance), indent=2)]
    return [
        f"remaining credits: {balance.remaining_credits}",
        f"plan:              {balance.team_plan}",
        f"rate limit:        {balance.rate_limit_rpm} requests/minute",
    ]


def task_lines(tasks: Sequence[Task], as_json: bool) -> list[str]:
    """The task list as a table (id, type, status, model, resolution, credits, created) or JSON."""
    if as_json:
        return [json.dumps([dataclasses.asdict(task) for task in tasks], indent=2)]
    header = ("ID", "TYPE", "STATUS", "MODEL", "RES", "CREDITS", "CREATED")
    rows = [
        (t.task_id, t.type, t.status, t.model, t.resolution or "-", str(t.credits_used), t.created_at or "-")
        for t in tasks
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
