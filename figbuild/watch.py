"""``figbuild watch``: sync what an edit made stale, once the edits have settled.

Watches the paper root (so that a new file matching a content glob is seen) but
reacts only to the manifest, the content files read in the last pass and paths
matching a content pattern; the outputs, the lock, figbuild's own directory and
editors' swap and temp files never trigger a pass. One pass runs at a time; edits
made during a pass are gathered into the next one.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figbuild import engine, lockfile
from figbuild import manifest as manifests
from figbuild.atomic import TEMP_SUFFIX
from figbuild.backends.base import Backend
from figbuild.errors import CapExceeded, FigbuildError, Interrupted, ManifestError
from figbuild.paper import Paper
from figbuild.report import Reporter
from figbuild.resolve import Resolved
from figbuild.statedir import STATE_DIR

#: Names editors and tools write beside a file while saving it.
IGNORED_NAMES = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "4913", "*.tmp", "*.bak", f"*{TEMP_SUFFIX}")
IGNORED_DIRS = (".git", ".hg", ".svn", STATE_DIR, "__pycache__", "_minted*")


@dataclass
class Scope:
    """Which paths under the paper root can change what a figure would be."""

    root: Path
    files: set[str] = field(default_factory=set)  # relative posix paths
    patterns: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)

    def relevant(self, path: Path) -> bool:
        try:
            relative = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False
        parts = relative.split("/")
        if any(fnmatch.fnmatch(part, pattern) for part in parts[:-1] for pattern in IGNORED_DIRS):
            return False
        if any(fnmatch.fnmatch(parts[-1], pattern) for pattern in IGNORED_NAMES):
            return False
        if relative in self.outputs or relative == lockfile.LOCK_NAME:
            return False
        if relative == manifests.MANIFEST_NAME or relative in self.files:
            return True
        return any(fnmatch.fnmatch(relative, pattern) for pattern in self.patterns)

    @classmethod
    def of(cls, paper: Paper, resolved: list[Resolved]) -> Scope:
        scope = cls(paper.root)
        for item in resolved:
            scope.outputs.add(item.figure.output)
            # Every file a part was read from, \input-ed ones included.
            scope.files.update(file for part in item.request.content for file in part.files)
            scope.patterns.update(source.pattern for source in item.figure.content)
        return scope


class _Trigger:
    """Collects relevant changes; hands them out once they have settled."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changed: set[str] = set()
        self._last = 0.0

    def fire(self, path: str) -> None:
        with self._cond:
            self._changed.add(path)
            self._last = time.monotonic()
            self._cond.notify_all()

    def settled(self, settle: float, stop: threading.Event) -> set[str] | None:
        """Block until changes exist and none came for ``settle`` seconds; None once stopped."""
        with self._cond:
            while not stop.is_set():
                if self._changed:
                    remaining = self._last + settle - time.monotonic()
                    if remaining <= 0:
                        changed, self._changed = self._changed, set()
                        return changed
                    self._cond.wait(remaining)
                else:
                    # Wakes now and then so that a stop (or a signal) is seen promptly.
                    self._cond.wait(0.2)
        return None


@dataclass(frozen=True)
class WatchOptions:
    settle: float = 2.0
    poll: bool = False
    max_credits: int | None = None
    jobs: int | None = None
    #: Placeholders only: real generation is left to an explicit `figbuild sync`.
    draft: bool = False


class Watcher:
    """Keeps the figures of the paper in ``directory`` in sync until stopped (``run``)."""

    def __init__(
        self,
        directory: Path,
        backend: Backend,
        reporter: Reporter,
        options: WatchOptions,
        stop: threading.Event | None = None,
    ) -> None:
        self.directory = directory
        self.backend = backend
        self.reporter = reporter
        self.options = options
        self.stop = stop or threading.Event()
        self.scope = Scope(directory)
        self.spent = 0
        self._trigger = _Trigger()

    def run(self) -> None:
        """Sync once, then after every settled change, until ``stop`` is set or Ctrl-C."""
        observer = self._start_observer()
        try:
            self._pass()
            self.reporter.info(f"watching {self.directory.resolve()} (Ctrl-C to stop)")
            while True:
                changed = self._trigger.settled(self.options.settle, self.stop)
                if changed is None:
                    return
                names = sorted(Path(p).name for p in changed)
                self.reporter.info(f"changed: {', '.join(names)}")
                self._pass()
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _start_observer(self) -> Any:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    path = raw.decode() if isinstance(raw, bytes) else raw
                    if path and watcher.scope.relevant(Path(path)):
                        watcher._trigger.fire(path)

        observer = PollingObserver(timeout=0.5) if self.options.poll else Observer()
        observer.schedule(Handler(), str(self.directory), recursive=True)
        try:
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit is reached
            self.reporter.info(f"native file events unavailable ({exc}); polling instead")
            observer = PollingObserver(timeout=0.5)
            observer.schedule(Handler(), str(self.directory), recursive=True)
            observer.start()
        return observer

    def _disclose(self, paper: Paper) -> None:
        """Keep the disclosure file current, as `sync` does (a hand edit is kept)."""
        from figbuild import disclosure

        try:
            done = disclosure.refresh(paper.manifest, paper.lock_path)
        except FigbuildError as exc:
            self.reporter.info(f"disclosure: not updated: {exc}")
            return
        if done is disclosure.Refreshed.WRITTEN and paper.manifest.disclosure is not None:
            self.reporter.info(f"wrote {paper.manifest.disclosure.output} (the AI-usage statement)")
        elif done is disclosure.Refreshed.KEPT:
            self.reporter.info("the disclosure file was edited by hand, so it was kept")

    def _pass(self) -> None:
        """One sync; a manifest or API problem is reported and watching goes on."""
        try:
            paper = Paper.open(self.directory)
            self.scope = Scope.of(paper, paper.resolve())
        except ManifestError as exc:
            self.reporter.info(f"{exc}\nwaiting for the manifest to be fixed")
            return
        except FigbuildError as exc:
            self.reporter.info(f"error: {exc}")
            return
        budget = None if self.options.max_credits is None else self.options.max_credits - self.spent
        try:
            result = engine.sync(
                paper, self.backend, self.reporter, max_credits=budget, jobs=self.options.jobs
            )
        except CapExceeded as exc:
            if self.spent:
                self.reporter.info(
                    f"credit cap reached: {self.spent} of --max-credits {self.options.max_credits} "
                    "spent this session; not submitting more"
                )
            else:  # nothing spent: the plan alone is over the cap, and says by how much
                self.reporter.info(f"not submitting: {exc.message} (the cap is for the whole session)")
            return
        except Interrupted:
            raise
        except FigbuildError as exc:
            self.reporter.info(f"error: {exc}")
            return
        self.spent += result.credits_spent
        self._disclose(paper)
        if self.options.draft:
            stale, drawn = len(result.plan.skipped), len(result.generated)
            self.reporter.info(
                f"draft pass done: {drawn} placeholder{'s' if drawn != 1 else ''} drawn"
                + (f"; {stale} figures left for `figbuild sync`" if stale else "")
            )
        elif result.plan.empty:
            self.reporter.info("up to date")
        else:
            self.reporter.info(
                f"pass done: {len(result.generated)} generated, {len(result.failed)} failed, "
                f"{result.credits_spent} credits ({self.spent} this session)"
            )
