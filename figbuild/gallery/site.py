"""The gallery as a self-contained static site: one HTML page, its thumbnails, the
full images and the exact content each figure sends, all referenced relatively.

The page is rendered from Jinja2 templates shipped in the package with
autoescaping on: prompts, paths and section titles are the paper's text, not
markup. CSS and the small script are inline; nothing is fetched from a network.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from figbuild import atomic, disclosure
from figbuild.content import ContentError, ContentReader
from figbuild.digests import StatCache, sha256_file
from figbuild.errors import FigbuildError, UsageError
from figbuild.gallery import thumbs
from figbuild.gallery.history import StoreHistory
from figbuild.gallery.model import Card, Gallery, History, Image, Provenance, card
from figbuild.lockfile import Lock
from figbuild.paper import Paper
from figbuild.state import FigureStatus
from figbuild.statedir import STATE_DIR, state_dir
from figbuild.store import Store
from figbuild.timestamps import now

if TYPE_CHECKING:
    import jinja2

#: Where `figbuild gallery` writes the site in a paper, without -o.
DEFAULT_DIR = Path(STATE_DIR) / "gallery"
INDEX = "index.html"
THUMBS = "thumbs"
IMAGES = "images"
SENT = "sent"
#: Under the paper's ``.figbuild/``: thumbnails by image hash, shared by every site built.
THUMB_CACHE = "thumbs"


@dataclass(frozen=True)
class Live:
    """What the served page needs to talk back to its server (its session is an
    HttpOnly cookie: nothing on the page is a secret)."""

    version: str
    #: Whether the server runs figbuild's watcher too.
    watching: bool = False


def default_dir(root: Path) -> Path:
    return root / DEFAULT_DIR


#: Seconds the gallery waits for the key's balance: it is optional, never worth a hang.
BALANCE_WAIT = 2.0


class BalanceUnavailable(FigbuildError):
    """The balance did not come back in time (no network, a slow API)."""


def key_balance(wait: float = BALANCE_WAIT) -> Callable[[], int | None] | None:
    """A reader of the key's balance through the API client, when a key is set (else
    None: the page then shows none). The key itself never reaches the page.

    Each call waits at most ``wait`` seconds; a read still under way then goes on in
    the background (at most one at a time) and a later call may take its answer."""
    from figbuild.backends.paperbanana.settings import find_key

    try:
        if find_key() is None:  # the environment's key, or the one `figbuild login` stored
            return None
    except FigbuildError:  # a malformed or unreadable key: the page shows no balance
        return None

    def read() -> int | None:
        from figbuild import backends
        from figbuild.report import NullReporter

        with backends.open_backend(backends.DEFAULT, reporter=NullReporter()) as backend:
            return backend.balance()

    return _Bounded(read, wait)


class _Bounded:
    """``read()`` on a background thread, waited for at most ``wait`` seconds a call."""

    def __init__(self, read: Callable[[], int | None], wait: float) -> None:
        self._read = read
        self._wait = wait
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._outcome: list[int | BaseException | None] = []

    def _run(self, outcome: list[int | BaseException | None]) -> None:
        try:
            outcome.append(self._read())
        except BaseException as exc:  # handed to the caller, never lost on this thread
            outcome.append(exc)

    def __call__(self) -> int | None:
        with self._mutex:
            if self._thread is None or (not self._thread.is_alive() and self._outcome):
                self._outcome = []
                self._thread = threading.Thread(
                    target=self._run, args=(self._outcome,), name="figbuild-balance", daemon=True
                )
                self._thread.start()
            thread, outcome = self._thread, self._outcome
        thread.join(self._wait)
        if not outcome:
            raise BalanceUnavailable(f"the API did not answer within {self._wait:g} s")
        result = outcome[0]
        if isinstance(result, BaseException):
            if isinstance(result, (FigbuildError, OSError)):
                raise result
            raise BalanceUnavailable(type(result).__name__)
        return result


def collect(
    paper: Paper,
    history: History | None = None,
    balance: Callable[[], int | None] | None = None,
) -> Gallery:
    """The gallery's data for every figure of ``paper``. ``balance`` reads the key's
    credits; a failure to read them is shown on the page, not raised."""
    from figbuild.history import outlook

    lock = paper.read_lock()
    from figbuild.output import row_state

    statuses, plan = outlook(paper, lock)
    # The reasons as `status` words them ("its image for these inputs is in history", …).
    statuses = [replace(status, reasons=row_state(status, plan)[1]) for status in statuses]
    costs = plan.costs()
    notes: list[str] = []
    if history is None:
        history = StoreHistory(
            Store.at(paper.root, on_warning=lambda warning: notes.append(str(warning))), paper.root
        )
    stats = StatCache(paper.cache, "outputs")
    texts = _texts(paper, statuses)
    ledger = history.ledger(lock)
    digests = {status.id: sha256_file(paper.root / status.output, stats) for status in statuses}
    statement, made = _statement(paper, lock, digests, notes)
    cards = tuple(
        card(
            status,
            digests[status.id],
            paper.root,
            history,
            ledger.by_figure.get(status.id, 0),
            texts,
            sync_cost=costs.get(status.id, 0),
            needs_sync=plan.acts_on(status.id),
            provenance=made.get(status.id),
        )
        for status in statuses
    )
    amount, note = None, None
    if balance is not None:
        try:
            amount = balance()
        except (FigbuildError, OSError) as exc:  # shown on the page, never fatal
            note = f"balance unavailable: {exc}"
    orphans = _orphans(lock, {item.id for item in cards})
    row = disclosure.status(paper.manifest, lock, digests)
    # The paper's folder name, also when figbuild runs from inside it (`-C .`).
    title = paper.root.resolve().name or str(paper.root.resolve())
    return Gallery(
        title,
        paper.root,
        now(),
        cards,
        ledger,
        amount,
        note,
        tuple(notes),
        orphans,
        statement,
        row.output if row else None,
        row.state.value if row else None,
    )


def _statement(
    paper: Paper, lock: Lock, digests: dict[str, str | None], notes: list[str]
) -> tuple[str | None, dict[str, Provenance]]:
    """The AI-usage statement (Markdown) and each figure's provenance as it tells it."""
    try:
        facts = disclosure.statement(paper.manifest, lock, digests)
        text = disclosure.render(facts, "markdown", disclosure.template_text(paper.manifest))
    except FigbuildError as exc:  # a template that does not render: shown, never fatal
        notes.append(f"disclosure: {exc}")
        return None, {}
    made: dict[str, Provenance] = {}
    for item in facts.figures:
        source = item.source_type.rsplit("/", 1)[-1]
        made[item.id] = Provenance("generated", item.how_text, item.model, item.task_id, item.when, source)
    for stand_in in facts.stand_ins:
        words = {
            "placeholder": "a placeholder (no AI source type; a real sync replaces it)",
            "emulator": "an emulator image (no AI source type; a real sync replaces it)",
            "missing": "no image yet",
            "other": "not made by the API, as far as figbuild knows",
        }
        made[stand_in.id] = Provenance(stand_in.what, words.get(stand_in.what, stand_in.what))
    return text, made


def _orphans(lock: Lock, known: set[str]) -> dict[str, str]:
    """Figures the lock records that the manifest no longer has, with their outputs."""
    return {
        figure_id: record.generated.output if record.generated else "(pending only)"
        for figure_id, record in sorted(lock.figures.items())
        if figure_id not in known
    }


def _texts(paper: Paper, statuses: Iterable[FigureStatus]) -> dict[str, str | None]:
    """The exact text of every content part, read once per file."""
    reader = ContentReader(paper.root)
    texts: dict[str, str | None] = {}
    for status in statuses:
        for part in status.resolved.request.content:
            if part.label not in texts:
                try:
                    texts[part.label] = reader.fill(part).text
                except (ContentError, OSError):
                    texts[part.label] = None
    return texts


def write(gallery: Gallery, out: Path, *, live: Live | None = None, jobs: int | None = None) -> Path:
    """Write the site for ``gallery`` into ``out``; returns its ``index.html``.

    Thumbnails are made only for images not seen before (kept in the paper's
    ``.figbuild/thumbs``, by hash); files of images no longer shown are removed."""
    _check_target(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = state_dir(gallery.root) / THUMB_CACHE
    cache.mkdir(exist_ok=True)
    shown = gallery.images()
    with ThreadPoolExecutor(max_workers=jobs or min(8, os.cpu_count() or 1)) as pool:
        made = {
            i.sha256: t
            for i, t in zip(shown, pool.map(lambda i: thumbs.thumbnail(i, cache), shown), strict=True)
        }
    thumb_names: dict[str, str] = {}
    image_names: dict[str, str] = {}
    wrote_before = _written(out)
    for image in shown:
        thumb = made[image.sha256]
        if thumb is not None and _OURS.fullmatch(thumb.name):
            thumb_names[image.sha256] = _place(thumb, out / THUMBS / thumb.name)
        full = out / IMAGES / f"{image.sha256}{image.suffix}"
        if _OURS.fullmatch(full.name) and _copy(image, full):
            image_names[image.sha256] = full.name
    sent = _write_sent(gallery.cards, out / SENT)
    wrote = {f"{THUMBS}/{name}" for name in thumb_names.values()}
    wrote |= {f"{IMAGES}/{name}" for name in image_names.values()}
    wrote |= {link for links in sent.values() for link in links if link is not None}
    # Only files this site wrote are ever removed: a name that merely looks like one
    # of its own, put there by the user, stays.
    _record_written(out, wrote | wrote_before)
    for relative in sorted(wrote_before - wrote):
        (out / relative).unlink(missing_ok=True)
    _record_written(out, wrote)
    html = (
        _environment()
        .get_template("index.html")
        .render(
            gallery=gallery,
            live=live,
            thumb=lambda image: (
                f"{THUMBS}/{thumb_names[image.sha256]}"
                if image is not None and image.sha256 in thumb_names
                else None
            ),
            full=lambda image: (
                f"{IMAGES}/{image_names[image.sha256]}"
                if image is not None and image.sha256 in image_names
                else None
            ),
            sent=sent,
        )
    )
    index = out / INDEX
    atomic.write_bytes(index, html.encode("utf-8"))
    return index


def build(paper: Paper, out: Path | None = None, *, history: History | None = None, **options: Any) -> Path:
    """Collect and write the gallery of ``paper`` (default: ``.figbuild/gallery``)."""
    return write(
        collect(paper, history, options.pop("balance", None)), out or default_dir(paper.root), **options
    )


def _place(source: Path, target: Path) -> str:
    """Put a cached file into the site: a hard link when possible, else a copy."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return target.name


def _copy(image: Image, target: Path) -> bool:
    """Copy a full-size image into the site, once (its name is its hash).

    The site is disposable, so no fsync: a rename is enough for the page never to
    see half a file."""
    if target.exists():
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}{atomic.TEMP_SUFFIX}")
    try:
        shutil.copyfile(image.path, staged)
        staged.replace(target)
    except OSError:
        staged.unlink(missing_ok=True)
        return False
    return True


#: The files the site writes into its folders; nothing else there is ever removed.
_OURS = re.compile(r"[0-9a-f]{64}(-\d+)?\.[a-z]+|[A-Za-z0-9_-]+\.\d+\.txt")
#: How an index.html written by figbuild starts to say so.
GENERATOR = '<meta name="generator" content="figbuild gallery">'


def _check_target(out: Path) -> None:
    """Refuse to write over an ``index.html`` that is not a gallery (``-o`` a wrong folder)."""
    try:
        with (out / INDEX).open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(2048)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise UsageError(f"cannot write the gallery into {out}: {exc}") from None
    if GENERATOR not in head:
        raise UsageError(
            f"{out / INDEX} exists and is not a figbuild gallery; not overwriting it",
            hint="pick an empty folder with -o, or the default (.figbuild/gallery)",
        )


#: In the site's folder: the files it wrote (one relative path a line), the only ones
#: a later build may remove.
WRITTEN = ".figbuild-written"


def _written(out: Path) -> set[str]:
    """What earlier builds recorded writing into ``out``; only names of the site's own
    form, in its own folders (the list is data: it never names another file)."""
    try:
        lines = (out / WRITTEN).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return set()
    found = set()
    for line in lines:
        folder, _, name = line.partition("/")
        if folder in (THUMBS, IMAGES, SENT) and _OURS.fullmatch(name):
            found.add(line)
    return found


def _record_written(out: Path, wrote: set[str]) -> None:
    atomic.write_bytes(out / WRITTEN, "".join(f"{line}\n" for line in sorted(wrote)).encode())


def _write_sent(cards: Iterable[Card], directory: Path) -> dict[str, list[str | None]]:
    """For each figure, one text file per content part with exactly the text sent.

    Returns each figure's list of relative links, in the order of its sources."""
    directory.mkdir(parents=True, exist_ok=True)
    links: dict[str, list[str | None]] = {}
    for item in cards:
        links[item.id] = []
        for number, source in enumerate(item.sources, start=1):
            if source.text is None:
                links[item.id].append(None)
                continue
            name = f"{item.id}.{number}.txt"
            _write_if_changed(directory / name, source.text.encode("utf-8"))
            links[item.id].append(f"{SENT}/{name}")
    return links


def _write_if_changed(path: Path, data: bytes) -> None:
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    atomic.write_bytes(path, data)


def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("figbuild.gallery", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
