"""The store on disk: where it is, its objects, its index segments and its lock.

Every write holds the store's file lock, so a reader needs none: objects and
index files only ever appear whole (through :mod:`figbuild.atomic`), and a
reader that finds a file gone (a compaction replaced it), or the listing changed
while it read, simply looks again.
Writing an object and its index line under one lock is also what lets ``gc``
delete unreferenced objects without racing a ``put`` that is about to use one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field, replace
from pathlib import Path

from figbuild import atomic, locks
from figbuild.images import sniff_format
from figbuild.records import mutable
from figbuild.statedir import STATE_DIR, state_dir
from figbuild.store.files import hash_file, lines_of, read_own
from figbuild.store.group import GroupCommit
from figbuild.store.index import (
    SUFFIXES,
    DamagedLine,
    Index,
    decode,
    decode_pack,
    encode,
    pack_check,
    plan_gc,
)
from figbuild.store.model import Entry, GcResult, Meta, StoreError, StoreWarning
from figbuild.timestamps import now

STORE_ENV = "FIGBUILD_STORE"
#: Under the paper's ``.figbuild/``: the store, when FIGBUILD_STORE does not name one.
STORE_DIR = "store"
#: Under the paper's ``.figbuild/``: the label that tells this paper's entries apart.
PAPER_ID = "paper-id"

SEGMENT_PREFIX = "seg-"
PACK_PREFIX = "pack-"
INDEX_SUFFIX = ".jsonl"
#: Loose segments (one per put) are merged into one pack past this many, so a
#: read opens a handful of files whatever the history's length.
COMPACT_AFTER = 64
_READ_ATTEMPTS = 5
#: Lookups answered by scanning the index's bytes before a Store parses it whole.
_SCANS_BEFORE_PARSE = 8
_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "PDF": ".pdf", "GIF": ".gif", "WEBP": ".webp"}

WarningSink = Callable[[StoreWarning], None]


@mutable
class _Snapshot:
    """The index files as read at one moment, parsed as far as was needed."""

    signature: tuple[tuple[str, int, int, int, int], ...]
    blobs: list[tuple[Path, bytes]] = field(default_factory=list)
    unreadable: bool = False
    index: Index | None = None
    damaged: list[bytes] = field(default_factory=list)
    scans: int = 0
    #: The permission bits every file read shares: what set-aside lines may get.
    mode: int = 0o666


def location(paper_root: Path, env: Mapping[str, str]) -> Path:
    """The store of the paper at ``paper_root``: ``$FIGBUILD_STORE`` (``~`` expanded,
    a relative path taken from the paper root), else ``.figbuild/store`` in the paper."""
    configured = env.get(STORE_ENV, "").strip()
    if configured:
        return paper_root / Path(configured).expanduser()
    return paper_root / STATE_DIR / STORE_DIR


def read_paper_id(paper_root: Path) -> str | None:
    """The paper's label in a store, or None when it never stored anything."""
    try:
        text = (paper_root / STATE_DIR / PAPER_ID).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def make_paper_id(paper_root: Path) -> str:
    """Read or create the paper's label: its folder's name and a random tag, kept in
    ``.figbuild/paper-id`` so it survives the paper being moved."""
    existing = read_paper_id(paper_root)
    if existing is not None:
        return existing
    label = f"{paper_root.resolve().name or 'paper'}-{_token()}"
    atomic.write_bytes(state_dir(paper_root) / PAPER_ID, f"{label}\n".encode())
    return label


class Store:
    """A content-addressed store of figure images and the index of their versions.

    Problems it works around (a damaged index line, a missing or corrupt object) go
    to ``on_warning``, each once per Store; nothing here prints or raises for them.
    """

    def __init__(
        self,
        path: Path,
        *,
        paper: str | None = None,
        paper_root: Path | None = None,
        on_warning: WarningSink | None = None,
        clock: Callable[[], str] = now,
    ) -> None:
        """A store at ``path``. Entries are labelled ``paper``, or the label of the
        paper at ``paper_root``, created by the first :meth:`put`."""
        self.path = path
        self._paper = paper
        self._paper_root = paper_root
        self._on_warning = on_warning
        self._clock = clock
        self._reported: set[StoreWarning] = set()
        self._cache: _Snapshot | None = None
        self._group: GroupCommit[tuple[bytes, str, str, Meta], Entry] = GroupCommit(self._commit)

    @classmethod
    def at(
        cls,
        paper_root: Path,
        env: Mapping[str, str] | None = None,
        *,
        on_warning: WarningSink | None = None,
        clock: Callable[[], str] = now,
    ) -> Store:
        """The store the paper at ``paper_root`` uses. Writes nothing until a put."""
        env = os.environ if env is None else env
        return cls(
            location(paper_root, env),
            paper=read_paper_id(paper_root),
            paper_root=paper_root,
            on_warning=on_warning,
            clock=clock,
        )

    @property
    def paper(self) -> str | None:
        """This paper's label, None until it stored something."""
        return self._paper

    @property
    def objects_dir(self) -> Path:
        return self.path / "objects"

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    def object_path(self, sha256: str) -> Path:
        return self.objects_dir / sha256[:2] / sha256[2:]

    # -- writing ------------------------------------------------------------------

    def put(self, source: Path | bytes, meta: Meta) -> Entry:
        """Store an image (a file or its bytes) and index it under ``meta.fingerprint``.

        Bytes already stored are not stored again (a damaged copy is repaired);
        the new index entry is returned either way.
        """
        data = source if isinstance(source, bytes) else source.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        suffix = meta.suffix or (source.suffix.lower() if isinstance(source, Path) else "")
        if suffix not in SUFFIXES:  # a name's extension is no format: the bytes say which
            suffix = ""
        suffix = suffix or _SUFFIXES.get(sniff_format(data[:16]) or "", "")
        # Committed with the puts other threads make meanwhile: one lock and one index
        # segment for all of them (a sync collecting 50 figures at once wrote 50).
        return self._group.submit((data, sha256, suffix, meta))

    def _commit(self, puts: list[tuple[bytes, str, str, Meta]]) -> list[Entry | Exception]:
        """Store each put's object, then one index segment naming them all."""
        outcomes: list[Entry | Exception] = []
        lines: list[bytes] = []
        with self._writing():
            for data, sha256, suffix, meta in puts:
                entry = Entry(
                    id=f"{time.time_ns():016x}{_token()}",
                    fingerprint=meta.fingerprint,
                    figure=meta.figure,
                    paper=self._ensure_paper(),
                    sha256=sha256,
                    suffix=suffix,
                    size=len(data),
                    how=meta.how,
                    when=meta.when or self._clock(),
                    task_id=meta.task_id,
                    credits=meta.credits,
                    model=meta.model,
                    resolution=meta.resolution,
                    candidate=meta.candidate,
                    changed=meta.changed,
                )
                line = encode(entry)
                try:
                    decode(line[:-1])  # never write a line that a read would refuse
                except DamagedLine as exc:
                    outcomes.append(ValueError(f"cannot store {meta}: {exc}"))
                    continue
                target = self.object_path(sha256)
                if hash_file(target) != sha256:
                    atomic.write_bytes(target, data)
                lines.append(line)
                outcomes.append(entry)
            if lines:
                # The objects are in place before the line that names them: a crash in
                # between leaves unreferenced objects (gc removes them), never a dangling line.
                first = next(o for o in outcomes if isinstance(o, Entry))
                segment = self.index_dir / f"{SEGMENT_PREFIX}{first.id}{INDEX_SUFFIX}"
                atomic.write_bytes(segment, b"".join(lines))
                self._maybe_compact()
        return outcomes

    def gc(
        self, keep: int, protect: Iterable[str] = (), *, all_papers: bool = False, dry_run: bool = False
    ) -> GcResult:
        """Trim old versions: per figure, every entry after the newest ``keep`` has its
        bytes removed (its record stays, marked trimmed, for ``log`` and the ledger).

        Never removed: an object in ``protect`` (the sha256 of current and pinned
        images), an object a live entry (of any paper) still references, and while
        the index has damaged lines, an object no entry names (it may be theirs).
        Only this paper's entries are trimmed unless ``all_papers``.
        """
        protected = frozenset(protect)
        with self._writing():
            snapshot = self._read_held()
            index = self._parsed(snapshot)
            # With a damaged or unreadable index, an object no entry names may be theirs.
            whole = not snapshot.damaged and not snapshot.unreadable
            papers = None if all_papers else {self.paper} if self.paper else set()
            trim = plan_gc(index.entries, keep=keep, protect=protected, papers=papers)
            entries = [replace(e, trimmed=True) if e.id in trim else e for e in index.entries]
            live = {e.sha256 for e in entries if not e.trimmed} | protected
            named = {e.sha256 for e in entries}
            stored = self._stored_objects()
            doomed = sorted(sha for sha in stored if sha not in live and (sha in named or whole))
            if not dry_run:
                self._remove_temp_files()
                if trim:
                    pack = b"".join(map(encode, sorted(entries, key=lambda e: e.order)))
                    replaced = [path for path, _ in snapshot.blobs]
                    self._replace_index(pack, snapshot.damaged, replaced, snapshot.mode)
                for sha in doomed:
                    self.object_path(sha).unlink(missing_ok=True)
        return GcResult(
            trimmed=tuple(e for e in entries if e.id in trim),
            removed_objects=tuple(doomed),
            freed_bytes=sum(stored[sha] for sha in doomed),
            kept_entries=len(entries) - len(trim),
        )

    def unwritable(self) -> str | None:
        """Why a put would fail now (a read-only or misplaced store), or None: tried for
        real in the folders a put writes, before anything is paid for."""
        for folder in (self.index_dir, self.objects_dir):
            problem = atomic.unwritable(folder / "probe")
            if problem is not None:
                return f"cannot write to the figure store {self.path}: {problem}"
        return None

    # -- reading ------------------------------------------------------------------

    def lookup(self, fingerprint: str, *, verify: bool = True) -> list[Entry]:
        """The images made for ``fingerprint`` (any paper's), newest first: only
        entries whose object is present and hashes right, so any may be restored.

        ``verify=False`` checks only that the object is there and has its size
        (for ``status``, which restores nothing; :meth:`get` verifies what it writes).
        """
        found = self._select("fingerprint", fingerprint).by_fingerprint.get(fingerprint, ())
        return [e for e in found if not e.trimmed and self.verify(e, hash_bytes=verify)]

    def history(self, figure_id: str, *, all_papers: bool = False) -> list[Entry]:
        """Every recorded version of a figure of this paper (of every paper with
        ``all_papers``), newest first, trimmed ones included. Objects are not
        read: :meth:`get` verifies the one it writes."""
        entries = self._select("figure", figure_id).by_figure.get(figure_id, ())
        if all_papers:
            return list(entries)
        return [e for e in entries if e.paper == self.paper] if self.paper else []

    def entries(self) -> list[Entry]:
        """Every entry in the store, every paper's, newest first."""
        return list(self._index().entries)

    def read(self, entry: Entry) -> bytes | None:
        """The entry's image bytes, verified by hash; None (and a warning) if the
        object is missing or damaged, or was trimmed."""
        if entry.trimmed:
            return None
        path = self.object_path(entry.sha256)
        try:
            data = path.read_bytes()
        except OSError:
            self._warn(path, f"object of {entry.figure!r} ({entry.when}) is missing")
            return None
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            self._warn(path, f"object of {entry.figure!r} ({entry.when}) is damaged; skipped")
            return None
        return data

    def get(self, entry: Entry, dest: Path) -> bool:
        """Write the entry's verified image to ``dest`` atomically. False (and
        ``dest`` untouched) when the object is missing, damaged or trimmed."""
        data = self.read(entry)
        if data is None:
            return False
        atomic.write_bytes(dest, data)
        return True

    def verify(self, entry: Entry, *, hash_bytes: bool = True) -> bool:
        """Whether the entry's object is present and hashes right; a warning when it
        is not. ``hash_bytes=False`` checks its presence and size only.

        Nothing is remembered between calls: a file's stat (whose times may be
        coarser than the writes) cannot vouch for its bytes.
        """
        path = self.object_path(entry.sha256)
        try:
            st = path.stat()
        except OSError:
            self._warn(path, f"object of {entry.figure!r} ({entry.when}) is missing")
            return False
        if st.st_size != entry.size:
            self._warn(path, f"object of {entry.figure!r} ({entry.when}) is damaged; skipped")
            return False
        if not hash_bytes:
            return True
        if hash_file(path) != entry.sha256:
            self._warn(path, f"object of {entry.figure!r} ({entry.when}) is damaged; skipped")
            return False
        return True

    # -- the index ----------------------------------------------------------------

    def _index(self) -> Index:
        return self._parsed(self._snapshot())

    def _snapshot(self) -> _Snapshot:
        """The index files' bytes, re-read only when a file changed.

        A directory listing taken while a compaction renames a pack in and deletes
        the segments it merged may show neither, so a read counts only if the
        listing is the same after it. An index that keeps changing is read under
        the writers' lock.
        """
        for _ in range(_READ_ATTEMPTS):
            listing = self._index_files()
            signature = _signature(listing)
            if self._cache is not None and self._cache.signature == signature:
                return self._cache
            snapshot = self._read_files(signature, listing)
            if snapshot is not None and _signature(self._index_files()) == signature:
                self._cache = snapshot
                return snapshot
        with self._locked():
            return self._read_held()

    def _read_held(self) -> _Snapshot:
        """Read the index while holding the lock, when no writer can change it. A file
        that vanishes all the same (removed by hand) marks the read incomplete."""
        listing = self._index_files()
        signature = _signature(listing)
        snapshot = self._read_files(signature, listing)
        if snapshot is None:
            return _Snapshot(signature, unreadable=True)
        self._cache = snapshot
        return snapshot

    def _read_files(
        self,
        signature: tuple[tuple[str, int, int, int, int], ...],
        listing: list[tuple[Path, tuple[int, int, int, int]]],
    ) -> _Snapshot | None:
        """The bytes of the listed files; None if one vanished (a compaction replaced it)."""
        snapshot = _Snapshot(signature)
        for path, _ in listing:
            try:
                data, mode = read_own(path)
            except FileNotFoundError:
                return None
            except OSError as exc:
                snapshot.unreadable = True
                self._warn(path, f"cannot read index file ({exc.strerror or exc})")
                continue
            snapshot.blobs.append((path, data))
            snapshot.mode &= mode
        return snapshot

    def _parsed(self, snapshot: _Snapshot) -> Index:
        if snapshot.index is None:
            entries: list[Entry] = []
            for path, data in snapshot.blobs:
                if _intact_pack(path, data):
                    with contextlib.suppress(DamagedLine):
                        entries.extend(decode_pack(data))
                        continue
                entries.extend(self._decode_lines(path, data, snapshot.damaged))
            snapshot.index = Index.of(entries)
        return snapshot.index

    def _select(self, key: str, value: str) -> Index:
        """The entries whose ``key`` field is ``value``. Until a Store has parsed the
        whole index (or has been asked often), only the lines that contain the
        field's exact JSON text are decoded: one lookup need not parse them all.
        (The text cannot occur inside another field: quotes in values are escaped.)"""
        snapshot = self._snapshot()
        if snapshot.index is not None or snapshot.scans >= _SCANS_BEFORE_PARSE:
            return self._parsed(snapshot)
        snapshot.scans += 1
        needle = f'"{key}":{json.dumps(value, ensure_ascii=False)}'.encode()
        found: list[Entry] = []
        for path, data in snapshot.blobs:
            at = data.find(needle)
            while at >= 0:
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                end = len(data) if end < 0 else end
                found.extend(self._decode(path, data, start, end, []))
                at = data.find(needle, end)
        return Index.of(found)

    def _decode_lines(self, path: Path, data: bytes, damaged: list[bytes]) -> Iterator[Entry]:
        for start, end in lines_of(data):
            yield from self._decode(path, data, start, end, damaged)

    def _decode(self, path: Path, data: bytes, start: int, end: int, damaged: list[bytes]) -> list[Entry]:
        """The entry of the line ``data[start:end]``, or none: the line is set aside
        in ``damaged`` and a warning names it (its number counted only then)."""
        line = data[start:end]
        try:
            return [decode(line)]
        except DamagedLine as exc:
            damaged.append(line)
            number = data.count(b"\n", 0, start) + 1
            self._warn(path, f"line {number}: {exc}; skipped")
            return []

    def _index_files(self) -> list[tuple[Path, tuple[int, int, int, int]]]:
        try:
            with os.scandir(self.index_dir) as scan:
                found = []
                for item in scan:
                    if item.name.endswith(INDEX_SUFFIX) and not item.name.startswith("."):
                        with contextlib.suppress(FileNotFoundError):
                            st = item.stat(follow_symlinks=False)
                            if not stat.S_ISREG(st.st_mode):  # a symlink is never followed
                                self._warn(Path(item.path), "not a regular file; ignored")
                                continue
                            identity = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                            found.append((Path(item.path), identity))
        except FileNotFoundError:
            return []
        except OSError as exc:  # a file where the store should be, a folder this user cannot read
            raise StoreError(
                f"cannot read the figure store {self.path}: {atomic.explain(exc, self.index_dir)}",
                hint=f"check its permissions, or set {STORE_ENV} to a folder you can read and write",
            ) from None
        return sorted(found)

    def _maybe_compact(self) -> None:
        """Merge the loose segments and the pack into one new pack, past COMPACT_AFTER.

        An intact pack holds only lines that passed their check when they were
        merged, so it is copied as it is; only the segments (and a pack that fails
        its check) are decoded line by line, their damage set aside. The cost is a
        copy of the index's bytes every COMPACT_AFTER puts.
        """
        listing = self._index_files()
        if sum(p.name.startswith(SEGMENT_PREFIX) for p, _ in listing) <= COMPACT_AFTER:
            return
        parts: list[bytes] = []
        damaged: list[bytes] = []
        merged: list[Path] = []
        shared_mode = 0o666
        for path, _ in listing:
            try:
                data, mode = read_own(path)
            except OSError:
                continue  # left in place, as it is
            merged.append(path)
            shared_mode &= mode
            if _intact_pack(path, data):
                parts.append(data)
                continue
            for start, end in lines_of(data):
                if self._decode(path, data, start, end, damaged):
                    parts.append(data[start:end] + b"\n")
        self._replace_index(b"".join(parts), damaged, merged, shared_mode)

    def _replace_index(
        self, pack: bytes, damaged: list[bytes], replaced: Iterable[Path], mode: int = 0o666
    ) -> None:
        """Write ``pack`` as the new pack, then remove the index files it replaces.
        Damaged lines are set aside in ``damaged/``, not lost, readable by no more
        users than every file they came from (``mode``)."""
        tag = f"{time.time_ns():016x}{_token()}"
        if damaged:
            kept_aside = b"".join(line + b"\n" for line in damaged)
            atomic.write_bytes(self.path / "damaged" / f"{tag}.txt", kept_aside, mode=mode)
        atomic.write_bytes(self.index_dir / f"{PACK_PREFIX}{tag}-{pack_check(pack)}{INDEX_SUFFIX}", pack)
        for path in replaced:
            path.unlink(missing_ok=True)

    # -- helpers ------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with locks.exclusive(self.path / "lock"):
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the lock for a write; an OSError becomes a StoreError naming the store."""
        try:
            with self._locked():
                yield
        except OSError as exc:
            raise StoreError(
                f"cannot write to the figure store {self.path}: {exc.strerror or exc}",
                hint=f"check its permissions and free space, or set {STORE_ENV} to another folder",
            ) from exc

    def _ensure_paper(self) -> str:
        if self._paper is None:
            self._paper = make_paper_id(self._paper_root) if self._paper_root is not None else ""
        return self._paper

    def _stored_objects(self) -> dict[str, int]:
        """Every object file: sha256 -> size."""
        found: dict[str, int] = {}
        if not self.objects_dir.is_dir():
            return found
        for shard in self.objects_dir.iterdir():
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for item in shard.iterdir():
                name = shard.name + item.name
                if len(name) == 64 and not item.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        found[name] = item.stat().st_size
        return found

    def _remove_temp_files(self) -> None:
        # Under the lock no write is in flight: a temp file is a crashed write's leftover.
        for folder in (self.index_dir, *self.objects_dir.glob("??")):
            for temp in folder.glob(f"*{atomic.TEMP_SUFFIX}"):
                temp.unlink(missing_ok=True)

    def _warn(self, path: Path, message: str) -> None:
        warning = StoreWarning(str(path), message)
        if warning not in self._reported:
            self._reported.add(warning)
            if self._on_warning is not None:
                self._on_warning(warning)


def _intact_pack(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a pack whose bytes match the check in its name."""
    name = path.name
    if not name.startswith(PACK_PREFIX):
        return False
    return name.removesuffix(INDEX_SUFFIX).rpartition("-")[2] == pack_check(data)


def _signature(
    listing: list[tuple[Path, tuple[int, int, int, int]]],
) -> tuple[tuple[str, int, int, int, int], ...]:
    """What a change to the index shows in: each file's name, size, times and inode
    (the ctime too: a rewrite that keeps the size and puts the mtime back)."""
    return tuple((path.name, *identity) for path, identity in listing)


def _token() -> str:
    """Eight random hex digits for a name (secrets imported here: status never needs it)."""
    import secrets

    return secrets.token_hex(4)
