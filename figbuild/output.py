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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from figbuild import fastpath
from figbuild.backends import redact
from figbuild.report import FINAL_EVENTS
from figbuild.state import FigureStatus, OrphanStatus, State

#: A row of ``status``: a figure of the manifest, or an orphaned lock record.
StatusRow = FigureStatus | OrphanStatus

if TYPE_CHECKING:  # not imported at run time: status must not load requests
    from figbuild.backends.paperbanana.client import Credits, Task
    from figbuild.besteffort import BestEffortResult
    from figbuild.engine import SyncResult
    from figbuild.history import Log


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


class TerminalReporter(LineReporter):
    """On a terminal: finished figures scroll by as lines; below them, a live block
    with one line per figure in flight, its elapsed time, and the credits spent."""

    def __init__(self, console: Console, refresh: float = 0.5) -> None:
        super().__init__(console)
        self._flight: dict[str, tuple[str, float]] = {}
        self._credits = 0
        self._drawn = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(refresh,), daemon=True)
        self._ticker.start()

    def info(self, message: str) -> None:
        fastpath.unrepeatable()
        with self._lock:
            self._print(message)

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        fastpath.unrepeatable()
        with self._lock:
            self._credits += credits
            if event in FINAL_EVENTS:
                self._flight.pop(figure_id, None)
                self._print(self._line(figure_id, event, detail))
            else:
                since = self._flight.get(figure_id, ("", time.monotonic()))[1]
                self._flight[figure_id] = (event, since)
                self._redraw()

    def close(self) -> None:
        self._done.set()
        with self._lock:
            self._erase()

    def _tick(self, refresh: float) -> None:
        while not self._done.wait(refresh):
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
        width = max(len(figure_id) for figure_id in self._flight)
        lines = [
            f"  {figure_id:<{width}}  {event:<10} {now - since:6.1f}s"
            for figure_id, (event, since) in sorted(self._flight.items())
        ]
        elapsed = now - self.started
        lines.append(
            f"  {len(self._flight)} in flight, {self._credits} credits spent, {elapsed:.1f}s elapsed"
        )
        self.console.err.write("\n".join(lines) + "\n")
        self.console.err.flush()
        self._drawn = len(lines)


def reporter_for(console: Console) -> LineReporter:
    """A live display on a terminal; plain lines in logs, pipes and with -q."""
    if console.verbosity >= 0 and console.err.isatty() and os.environ.get("TERM") != "dumb":
        return TerminalReporter(console)
    return LineReporter(console)


def status_table(statuses: Sequence[StatusRow], verbose: bool = False) -> list[str]:
    """One line per figure, then the totals and what a sync would cost."""
    width = max((len(s.id) for s in statuses), default=0)
    lines = []
    for status in statuses:
        reasons = "; ".join(status.reasons) if status.state is not State.FRESH or verbose else ""
        line = f"{status.id:<{width}}  {status.state.value:<8}  {status.output}"
        lines.append(line + (f"  ({reasons})" if reasons else ""))
    lines.append(summary_line(statuses))
    return lines


def summary_line(statuses: Iterable[StatusRow]) -> str:
    statuses = list(statuses)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state.value] = counts.get(status.state.value, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    cost = sum(status.cost for status in statuses)
    figures = f"{len(statuses)} figure{'s' if len(statuses) != 1 else ''}"
    return f"{figures}: {parts or 'none'}; a sync would cost {cost} credits"


def status_json(statuses: Sequence[StatusRow], extra: Sequence[dict[str, Any]] = ()) -> str:
    """The status as a JSON array; ``extra``: rows that are not figures (the disclosure file)."""
    rows: list[dict[str, Any]] = []
    for status in statuses:
        row: dict[str, Any] = {
            "id": status.id,
            "state": status.state.value,
            "reasons": list(status.reasons),
            "output": status.output,
            "cost": status.cost,
            "fingerprint": status.fingerprint,
        }
        failure = status.record.last_failure
        if failure is not None:
            row["last_failure"] = dataclasses.asdict(failure)
        rows.append(row)
    rows.extend(extra)
    return json.dumps(rows, indent=2)


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
        lines.append(
            f"generate {status.id}: {status.state.value} ({why}); "
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
