"""A team's store in a sync: one history across machines, so nobody in the team pays twice.

:class:`Team` is the remote seen from the pipeline, as :class:`~figbuild.history.History`
is the local store: it looks a request up in the remote before paying (one listing
per run), puts what another machine made in the local store (candidates included,
so ``pick`` works here), pushes every image the local store takes, and claims a
request before paying for it. The engine never knows whether a hit came from the
laptop or the bucket: the remote's images enter the local store first.

Claims. Before submitting, a run creates ``claims/<fingerprint>/<gen>.json`` with a
create-if-absent (S3 ``If-None-Match: *``, a hard link on a folder); while it works
it refreshes the claim every ``expiry / 4`` seconds and adds the task ids it was
given. Another machine that finds a live claim polls the remote (with backoff, for
at most :data:`WAIT_LIMIT`) for the image instead of paying. A claim counts as dead
when it has not changed for ``expiry`` seconds of the waiter's own clock, or its
last refresh is older than ``expiry`` plus :data:`CLOCK_SKEW` by the waiter's wall
clock; the waiter then takes the next generation (again create-if-absent: one
waiter wins) and collects the tasks the dead claim names, paying nothing.

The expiry, 120 s by default (``FIGBUILD_CLAIM_EXPIRY`` overrides it): the API
finishes a task in well under a minute (its reference shows 45 s), and a live
owner refreshes every 30 s whatever it waits for, so 120 s is four missed
refreshes, not a slow task. A waiter gives up after 45 minutes (the owner's own
client waits at most 30 minutes for a task and 10 for its download).

Offline: the first request that fails puts the run on the local store for its
rest, with one warning line; ``.figbuild/team-unpushed`` then makes the next run
push what this one made.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TypeVar

from figbuild.errors import Interrupted
from figbuild.history import History
from figbuild.lockfile import Lock, Pending
from figbuild.plan import Source
from figbuild.report import Reporter
from figbuild.state import FigureStatus
from figbuild.statedir import STATE_DIR
from figbuild.store import Entry, How, Meta, Store, StoreError, StoreWarning
from figbuild.store.remote import (
    REMOTE_ENV,
    Claim,
    Listing,
    Remote,
    RemoteEntry,
    RemoteError,
    Task,
    Unreachable,
    check_url,
    entry_key,
    fingerprint_hex,
    open_remote,
    unique,
)

MACHINE_ENV = "FIGBUILD_MACHINE"
EXPIRY_ENV = "FIGBUILD_CLAIM_EXPIRY"
CLAIM_EXPIRY = 120.0
CLOCK_SKEW = 60.0
WAIT_LIMIT = 2700.0
POLL_FIRST = 0.5
POLL_CAP = 10.0
#: Entries and images read at once when a run restores many figures from the remote.
READERS = 16
#: In the paper's ``.figbuild/``: present while images wait to be pushed.
UNPUSHED = "team-unpushed"
#: How an image from another machine reads in ``log`` and the gallery.
FROM_TEAM = "from the team store"

T = TypeVar("T")


def remote_url(env: Mapping[str, str], configured: str | None) -> str | None:
    """The remote a run uses: ``$FIGBUILD_REMOTE``, else the manifest's ``remote:``;
    ``FIGBUILD_REMOTE=off`` works alone whatever the manifest says."""
    named = env.get(REMOTE_ENV, "").strip()
    if named.lower() == "off":
        return None
    return named or configured or None


def machine_name(env: Mapping[str, str]) -> str:
    """This machine as it records itself: ``$FIGBUILD_MACHINE`` or the host name,
    reduced to the characters a remote entry may carry."""
    raw = env.get(MACHINE_ENV, "").strip() or socket.gethostname() or "machine"
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in raw).strip(".-_")
    return (cleaned or "machine")[:64]


def _expiry(env: Mapping[str, str]) -> float:
    try:
        value = float(env.get(EXPIRY_ENV, "") or CLAIM_EXPIRY)
    except ValueError:
        return CLAIM_EXPIRY
    return min(max(value, 0.5), 3600.0)


def pushable(entry: Entry) -> bool:
    """Whether the team store wants an entry: not a placeholder's or the emulator's (they
    only stand in), not a copy put back from history (its original is there), not one
    whose bytes gc removed."""
    return not (entry.trimmed or entry.how.provisional or entry.how is How.RESTORED)


def unpushed(root: Path) -> bool:
    return (root / STATE_DIR / UNPUSHED).exists()


@dataclass(frozen=True)
class Turn:
    """What a run may do about a request another machine may be making: pay for it, put
    the image it made in place, collect the tasks its dead owner paid for, or give up."""

    pay: bool = False
    source: Source | None = None
    pending: tuple[Pending, ...] = ()
    failure: str | None = None


class Team:
    """The remote of one run. Every remote failure becomes one warning and local
    behaviour; nothing here raises for the remote. Safe to share between workers."""

    def __init__(
        self,
        url: str,
        root: Path,
        reporter: Reporter,
        *,
        machine: str,
        expiry: float = CLAIM_EXPIRY,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._remote: Remote | None = None
        self.root = root
        self.reporter = reporter
        self.machine = machine
        self.expiry = expiry
        self.run = secrets.token_hex(6)
        self._clock = clock
        self._monotonic = monotonic
        self._mutex = threading.RLock()
        self._listing: Listing | None = None
        self._local: dict[str, Entry] | None = None
        self.offline = False
        self._held: dict[str, Claim] = {}
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self.pushed = 0
        self.refused: list[str] = []

    # -- the remote, or one warning ---------------------------------------------------

    @property
    def remote(self) -> Remote:
        """The remote, opened on first use: a run with nothing to look up or push never
        loads its client library."""
        with self._mutex:
            if self._remote is None:
                try:
                    self._remote = open_remote(self.url)
                except ImportError:
                    raise Unreachable(f"{self.url} needs boto3: pip install 'figbuild[s3]'") from None
                except RemoteError as exc:
                    raise Unreachable(exc.message) from None
            return self._remote

    def _call(self, action: Callable[[Remote], T], default: T) -> T:
        if self.offline:
            return default
        try:
            return action(self.remote)
        except Unreachable as exc:
            self._go_offline(str(exc))
            return default

    def _go_offline(self, why: str) -> None:
        with self._mutex:
            if self.offline:
                return
            self.offline = True
        self.reporter.info(
            f"warning: the team store is unreachable ({why}); working from the local store "
            "(what this run makes is pushed by the next one)"
        )

    def listing(self) -> Listing | None:
        """The remote's index, listed once per run (None when unreachable)."""
        with self._mutex:
            if self._listing is None and not self.offline:
                self._listing = self._call(lambda remote: remote.list_entries(), None)
            return self._listing

    # -- lookup -------------------------------------------------------------------

    def sources(self, statuses: Iterable[FigureStatus], store: Store, *, fetch: bool) -> dict[str, Source]:
        """For figures the local store cannot serve, an image another machine made for the
        exact request; put in the local store (with its candidates) unless ``fetch`` is off."""
        wanted = list(statuses)
        if not wanted:
            return {}
        listing = self.listing()
        if listing is None:
            return {}
        hits = [
            (status, keys)
            for status in wanted
            if (keys := listing.keys.get(fingerprint_hex(status.fingerprint) or "", []))
        ]
        if not hits:
            return {}
        from concurrent.futures import ThreadPoolExecutor

        # The entries and images of hits are read in parallel: one request each, and a
        # 200-figure paper's restore should not wait on 400 round trips in a row.
        with ThreadPoolExecutor(max_workers=min(READERS, len(hits))) as pool:
            sources = pool.map(lambda hit: self._found(hit[0], store, hit[1], fetch=fetch), hits)
            return {
                status.id: source
                for (status, _), source in zip(hits, sources, strict=True)
                if source is not None
            }

    def _found(self, status: FigureStatus, store: Store, keys: list[str], *, fetch: bool) -> Source | None:
        items = unique(
            item for key in keys if (item := self._call(partial(Remote.read_entry, key=key), None))
        )
        usable = [item for item in items if not item.entry.how.provisional]
        # The first candidate preferred, as locally (sorted is stable: newest first otherwise).
        usable.sort(key=lambda item: item.entry.candidate not in (None, 1))
        if not usable:
            return None
        if not fetch:
            first = usable[0]
            return Source(first.entry.sha256, entry=first.entry, team=first.machine)
        imported = self._import(status.id, usable, store)
        for item in usable:
            local = imported.get(item.key)
            if local is not None:
                return Source(local.sha256, entry=local, team=item.machine)
        return None

    def _import(self, figure_id: str | None, items: list[RemoteEntry], store: Store) -> dict[str, Entry]:
        """Put remote entries (and their verified bytes) in the local store, under
        ``figure_id`` (the figure that wants the request) or their own figure id."""
        local = self._local_entries(store)
        done: dict[str, Entry] = {}
        for item in items:
            if item.key in local:
                done[item.key] = local[item.key]
                continue
            data = self._call(partial(Remote.get_object, sha256=item.entry.sha256), None)
            if data is None:
                if not self.offline:
                    self._refuse(f"{item.entry.sha256[:12]}… ({item.entry.figure}, from {item.machine})")
                continue
            entry = item.entry
            meta = Meta(
                fingerprint=entry.fingerprint,
                figure=figure_id or entry.figure,
                how=entry.how,
                task_id=entry.task_id,
                credits=entry.credits,
                model=entry.model,
                resolution=entry.resolution,
                candidate=entry.candidate,
                changed=f"{FROM_TEAM} (made on {item.machine})",
                when=entry.when,
                suffix=entry.suffix,
            )
            try:
                done[item.key] = local[item.key] = store.put(data, meta)
            except (StoreError, ValueError) as exc:
                self.reporter.info(f"warning: cannot keep an image of the team store: {exc}")
        return done

    def _local_entries(self, store: Store) -> dict[str, Entry]:
        """The local store's entries by remote key, read once per run (imports add to it)."""
        with self._mutex:
            if self._local is None:
                self._local = {entry_key(entry): entry for entry in store.entries() if not entry.trimmed}
            return self._local

    def _refuse(self, what: str) -> None:
        self.refused.append(what)
        self.reporter.info(
            f"warning: the team store's object {what} is missing or does not match its hash; refused"
        )

    # -- push ---------------------------------------------------------------------

    def push(self, entry: Entry, store: Store) -> bool:
        """Push one local entry and its bytes (write-once; already there is fine).
        False when it could not be (it is pushed by a later run)."""
        key = entry_key(entry)
        listing = self._listing
        if not pushable(entry) or (listing is not None and key in listing.all_keys):
            return True
        data = store.read(entry)
        if data is None or self.offline:
            self._mark_unpushed()
            return False
        try:
            self.remote.put_object(entry.sha256, data)
            self.remote.append(entry, self.machine)
        except Unreachable as exc:
            self._go_offline(str(exc))
            self._mark_unpushed()
            return False
        with self._mutex:
            self.pushed += 1
            if self._listing is not None:
                self._listing.keys.setdefault(key.split("/")[1], []).append(key)
        return True

    def sweep(self, store: Store) -> int:
        """Push every local entry the remote lacks; the count pushed."""
        listing = self.listing()
        if listing is None:
            self._mark_unpushed()
            return 0
        before = self.pushed
        have = listing.all_keys
        missing = [entry for entry in store.entries() if pushable(entry) and entry_key(entry) not in have]
        ok = all(self.push(entry, store) for entry in missing)
        if ok and not self.offline:
            (self.root / STATE_DIR / UNPUSHED).unlink(missing_ok=True)
        return self.pushed - before

    def differences(self, store: Store) -> tuple[list[Entry], list[str]] | None:
        """The local entries the remote lacks, and the remote's entry keys the local store
        lacks; None when the remote is unreachable."""
        listing = self.listing()
        if listing is None:
            return None
        local = {entry_key(entry): entry for entry in store.entries() if pushable(entry)}
        remote = listing.all_keys
        return [entry for key, entry in local.items() if key not in remote], sorted(remote - local.keys())

    def pull(self, store: Store) -> int:
        """Put every remote entry the local store lacks into it; the count pulled."""
        listing = self.listing()
        if listing is None:
            return 0
        local = {entry_key(entry) for entry in store.entries()}
        missing = sorted(listing.all_keys - local)
        items = [item for key in missing if (item := self._call(partial(Remote.read_entry, key=key), None))]
        return len(self._import(None, [item for item in items if not item.entry.how.provisional], store))

    def _mark_unpushed(self) -> None:
        folder = self.root / STATE_DIR
        try:
            folder.mkdir(exist_ok=True)
            (folder / UNPUSHED).touch()
        except OSError:
            pass  # the next `store push` still finds what differs

    # -- claims -------------------------------------------------------------------

    def turn(self, status: FigureStatus, stop: threading.Event) -> Turn:
        """Whether this run pays for ``status``'s request: claims it, or waits for the
        machine that holds a live claim, or takes a dead one's claim over."""
        with self._mutex:
            if status.fingerprint in self._held or self.offline:
                return Turn(pay=True)
        try:
            return self._turn(status, stop)
        except Unreachable as exc:
            self._go_offline(str(exc))
            return Turn(pay=True)

    def _turn(self, status: FigureStatus, stop: threading.Event) -> Turn:
        fingerprint = status.fingerprint
        deadline = self._monotonic() + WAIT_LIMIT
        delay = POLL_FIRST
        watched: dict[int, tuple[tuple[object, ...], float]] = {}
        said = False
        now = self._clock()
        first = Claim(self.machine, self.run, now, beat_at=now)
        if self.remote.claim(fingerprint, first):  # the common case: nobody ever claimed it
            self._hold(fingerprint, first)
            return Turn(pay=True)
        while True:
            claims = self.remote.claims(fingerprint)
            top = claims[-1] if claims else None
            if top is None or top.released or self._dead(top, watched):
                tasks = top.tasks if top is not None and not top.released else ()
                now = self._clock()
                mine = Claim(
                    self.machine, self.run, now, beat_at=now, tasks=tasks, gen=top.gen + 1 if top else 0
                )
                if not self.remote.claim(fingerprint, mine):
                    continue  # another machine took this generation first: look again
                self._hold(fingerprint, mine)
                source = self._made(status)  # pushed just before the claim we took over was released
                if source is not None:
                    self.release(fingerprint)
                    return Turn(source=source)
                if top is not None and not top.released:
                    self.reporter.info(
                        f"{status.id}: the claim of {top.machine} expired; collecting what it paid for"
                    )
                    return Turn(pending=self._pendings(status, top))
                return Turn(pay=True)
            source = self._made(status)
            if source is not None:
                return Turn(source=source)
            if not said:
                self.reporter.info(
                    f"{status.id}: {top.machine} is making this image; waiting for it instead of paying"
                )
                said = True
            if self._monotonic() > deadline:
                return Turn(failure=f"{top.machine} is still making it after {WAIT_LIMIT / 60:.0f} minutes")
            if stop.wait(delay):
                raise Interrupted("interrupted while waiting for another machine's image")
            delay = min(delay * 1.5, POLL_CAP)

    def _dead(self, claim: Claim, watched: dict[int, tuple[tuple[object, ...], float]]) -> bool:
        now = self._monotonic()
        signature = (claim.beat, claim.machine, claim.run, claim.tasks)
        seen = watched.get(claim.gen)
        if seen is None or seen[0] != signature:
            watched[claim.gen] = seen = (signature, now)
        if now - seen[1] >= self.expiry:
            return True
        return claim.beat_at > 0 and self._clock() - claim.beat_at > self.expiry + CLOCK_SKEW

    def _made(self, status: FigureStatus) -> Source | None:
        listing = self.remote.list_entries(status.fingerprint)
        keys = listing.keys.get(fingerprint_hex(status.fingerprint) or "", [])
        return self._found(status, self._store, keys, fetch=True) if keys else None

    def _pendings(self, status: FigureStatus, dead: Claim) -> tuple[Pending, ...]:
        submitted = _iso(dead.since)
        parts = dict(status.resolved.fingerprint.parts)
        base = Pending(None, status.fingerprint, parts, status.output, status.resolved.cost, submitted)
        if not dead.tasks:  # died around its POST: the task list says whether it made one
            return (base,)
        return tuple(
            replace(base, task_id=t.task_id, credits=t.credits, candidate=t.candidate) for t in dead.tasks
        )

    def _hold(self, fingerprint: str, claim: Claim) -> None:
        with self._mutex:
            self._held[fingerprint] = claim
            if self._beat_thread is None:
                self._beat_thread = threading.Thread(target=self._beat, name="figbuild-claims", daemon=True)
                self._beat_thread.start()

    def _beat(self) -> None:
        while not self._beating.wait(self.expiry / 4):
            with self._mutex:
                for fingerprint, claim in list(self._held.items()):
                    fresh = replace(claim, beat=claim.beat + 1, beat_at=self._clock())
                    self._held[fingerprint] = fresh
                    self._call(partial(Remote.refresh, fingerprint=fingerprint, claim=fresh), None)

    def task(self, fingerprint: str, task_id: str, candidate: int | None, credits: int) -> None:
        """Name a task just paid for in the claim: if this run dies, whoever takes the
        claim over collects it instead of paying again."""
        with self._mutex:
            claim = self._held.get(fingerprint)
            if claim is None:
                return
            claim = replace(claim, tasks=(*claim.tasks, Task(task_id, candidate, credits)))
            self._held[fingerprint] = claim
            self._call(partial(Remote.refresh, fingerprint=fingerprint, claim=claim), None)

    def release(self, fingerprint: str, *, keep: bool = False) -> None:
        """Done with a request. ``keep``: a task of it is still pending here, so the claim
        is left to expire (whoever takes it over collects the task); else released."""
        with self._mutex:
            claim = self._held.pop(fingerprint, None)
            if claim is None or keep:
                return
            released = replace(claim, released=True, beat=claim.beat + 1, beat_at=self._clock())
            self._call(partial(Remote.refresh, fingerprint=fingerprint, claim=released), None)

    def finish(self, store: Store, *, sweep: bool = True) -> None:
        """The end of a run: stop refreshing claims, push what the remote lacks."""
        self._beating.set()
        if sweep or unpushed(self.root):
            self.sweep(store)

    _store: Store  # set by TeamHistory: where a waiter puts the image it waited for


class TeamHistory(History):
    """The local history with the team's remote behind it: lookups fall back to the
    remote, and every image kept is pushed."""

    def __init__(
        self,
        root: Path,
        team: Team,
        on_warning: Callable[[StoreWarning], None] | None = None,
        *,
        fetch: bool = True,
    ) -> None:
        super().__init__(root, on_warning)
        self.team = team
        self._fetch = fetch
        team._store = self.store

    def sources(self, statuses: Iterable[FigureStatus], lock: Lock) -> dict[str, Source]:
        listed = list(statuses)
        found = super().sources(listed, lock)
        rest = [status for status in listed if status.state.outdated and status.id not in found]
        found.update(self.team.sources(rest, self.store, fetch=self._fetch))
        return found

    def keep(self, data: Path | bytes, meta: Meta) -> Entry:
        entry = super().keep(data, meta)
        self.team.push(entry, self.store)
        return entry


def open_team(
    root: Path, configured: str | None, reporter: Reporter, env: Mapping[str, str] | None = None
) -> Team | None:
    """The run's team store, or None when no remote is configured. Nothing is opened
    yet: a remote that cannot be (no client library, a bad profile) is, at first use,
    one warning and local work."""
    env = os.environ if env is None else env
    url = remote_url(env, configured)
    if url is None:
        return None
    problem = check_url(url)
    if problem is not None:  # the URL itself is not repeated: it may hold a secret
        reporter.info(f"warning: {REMOTE_ENV} is not a remote figbuild can use ({problem}); working locally")
        return None
    return Team(url, root, reporter, machine=machine_name(env), expiry=_expiry(env))


def history_for(
    root: Path,
    team: Team | None,
    on_warning: Callable[[StoreWarning], None] | None = None,
    *,
    fetch: bool = True,
) -> History:
    """The run's history: the local store, with the team's remote behind it if any."""
    return History(root, on_warning) if team is None else TeamHistory(root, team, on_warning, fetch=fetch)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
