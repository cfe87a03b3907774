"""A team's store: the remote behind the local one, and the one interface to it.

A remote holds, under its prefix::

    objects/ab/cdef…                   image bytes by sha256, written once (create-if-absent)
    index/<fingerprint>/<key>.json     one object per entry: concurrent writers never
                                       read-modify-write a shared object, so no line is lost
    claims/<fingerprint>/<gen>.json    who is paying for a request now (create-if-absent)

Backends (:mod:`figbuild.store.s3`, :mod:`figbuild.store.folder`) only move bytes by
key (:class:`Bucket`); everything read back is checked here, as data, before it
names anything: keys are parsed against fixed patterns, entries decoded by the
index's own checked line format, objects refused unless their bytes hash to
their name. Nothing the remote says becomes a path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from figbuild.errors import ExitCode, FigbuildError
from figbuild.store.index import DamagedLine, decode, encode
from figbuild.store.model import Entry

REMOTE_ENV = "FIGBUILD_REMOTE"
#: The format of a remote entry and of a claim; another one is skipped, never guessed at.
REMOTE_FORMAT = 1
#: Largest image the remote may hand back (a hostile remote cannot fill the disk).
MAX_OBJECT = 256 << 20
#: Largest entry or claim object read.
MAX_RECORD = 64 << 10

_HEX64 = "[0-9a-f]{64}"
_ENTRY_KEY = re.compile(rf"index/({_HEX64})/([0-9a-f]{{32}})\.json")
_CLAIM_KEY = re.compile(rf"claims/({_HEX64})/([0-9]{{8}})\.json")
_OBJECT_KEY = re.compile(r"objects/([0-9a-f]{2})/([0-9a-f]{62})")
_FINGERPRINT = re.compile(rf"sha256:({_HEX64})")
#: What a machine name, a figure id or a suffix from the remote may be; anything else is refused.
_MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FIGURE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_SUFFIX = re.compile(r"(\.[a-z0-9]{1,5})?")
_WHEN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_TASK = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RemoteError(FigbuildError):
    """A `store push|pull|status` that needs the remote could not reach it."""

    exit_code = ExitCode.FAILED


class Unreachable(Exception):
    """The remote cannot be reached or refused us (network, credentials, no bucket).
    The message names the remote and the reason, never a credential."""


class Bucket(Protocol):
    """Bytes by key under one prefix: what a remote backend implements."""

    #: The remote as the user named it (``s3://bucket/prefix``, ``file:///path``): no credentials.
    url: str

    def create(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist (atomically); False if it did."""

    def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) ``key``: only for a claim the caller owns."""

    def get(self, key: str, limit: int) -> bytes | None:
        """The bytes of ``key``, None if absent; Unreachable if over ``limit`` bytes."""

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (one listing, paged by the backend)."""


@dataclass(frozen=True)
class RemoteEntry:
    """An index entry as the remote holds it: the entry and the machine that pushed it."""

    entry: Entry
    machine: str
    key: str

    @property
    def fingerprint_hex(self) -> str:
        return self.entry.fingerprint.removeprefix("sha256:")


@dataclass(frozen=True)
class Task:
    """A task a claim names: paid for, to be collected rather than paid again."""

    task_id: str
    candidate: int | None = None
    credits: int = 0


@dataclass(frozen=True)
class Claim:
    """Who is paying for a request: written create-if-absent, refreshed while alive."""

    machine: str
    run: str
    since: float  # epoch seconds, the owner's clock
    beat: int = 0  # bumped by every refresh: a reader sees a live owner by change
    beat_at: float = 0.0
    tasks: tuple[Task, ...] = ()
    released: bool = False
    gen: int = 0

    def encode(self) -> bytes:
        document = asdict(self)
        document.pop("gen")
        document["tasks"] = [asdict(task) for task in self.tasks]
        document["v"] = REMOTE_FORMAT
        return json.dumps(document, sort_keys=True).encode()


@dataclass
class Listing:
    """The remote's index as one listing saw it: entry keys by fingerprint (hex)."""

    keys: dict[str, list[str]] = field(default_factory=dict)

    @property
    def all_keys(self) -> set[str]:
        return {key for keys in self.keys.values() for key in keys}


def entry_key(entry: Entry) -> str:
    """The key of an entry in the remote: derived from what it says, not from a local id,
    so the same image recorded on two machines (pushed, pulled, pushed back) is one object."""
    parts = (entry.fingerprint, entry.sha256, entry.how.value, entry.candidate, entry.task_id, entry.when)
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"index/{entry.fingerprint.removeprefix('sha256:')}/{digest}.json"


def object_key(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256[2:]}"


def fingerprint_hex(fingerprint: str) -> str | None:
    """The hex of a ``sha256:…`` fingerprint, None if it is not one."""
    match = _FINGERPRINT.fullmatch(fingerprint)
    return match.group(1) if match else None


class Remote:
    """A team's store over a :class:`Bucket`: put by hash, get verified, append and list
    entries, claim. Every method may raise :class:`Unreachable`."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.url = bucket.url
        #: Requests made, by kind, for the benchmark and `store status`.
        self.requests: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1

    # -- objects ----------------------------------------------------------------

    def put_object(self, sha256: str, data: bytes) -> None:
        """Write an image once, by its hash (an object already there is left as it is)."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the bytes are not those of their hash")
        self._count("put")
        self.bucket.create(object_key(sha256), data)

    def get_object(self, sha256: str) -> bytes | None:
        """The image named ``sha256``: None when absent or when its bytes do not hash to
        that name (a damaged or hostile object is refused, never used)."""
        if not re.fullmatch(_HEX64, sha256):
            return None
        self._count("get")
        data = self.bucket.get(object_key(sha256), MAX_OBJECT)
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            return None
        return data

    def objects(self) -> set[str]:
        """The hashes of every object the remote holds (one listing)."""
        self._count("list")
        found = set()
        for key in self.bucket.list("objects/"):
            match = _OBJECT_KEY.fullmatch(key)
            if match:
                found.add(match.group(1) + match.group(2))
        return found

    # -- the index ----------------------------------------------------------------

    def append(self, entry: Entry, machine: str) -> bool:
        """Add an entry (one object of its own); False if the remote had it already."""
        line = encode(entry).decode("utf-8").rstrip("\n")
        body = json.dumps({"v": REMOTE_FORMAT, "machine": machine, "line": line}, sort_keys=True)
        self._count("put")
        return self.bucket.create(entry_key(entry), body.encode())

    def list_entries(self, fingerprint: str | None = None) -> Listing:
        """One listing of the index (of one fingerprint's entries, when given)."""
        prefix = "index/"
        if fingerprint is not None:
            hexed = fingerprint_hex(fingerprint)
            if hexed is None:
                return Listing()
            prefix = f"index/{hexed}/"
        self._count("list")
        listing = Listing()
        for key in self.bucket.list(prefix):
            match = _ENTRY_KEY.fullmatch(key)
            if match:
                listing.keys.setdefault(match.group(1), []).append(key)
        return listing

    def read_entry(self, key: str) -> RemoteEntry | None:
        """The entry at ``key``, checked as data; None for anything it cannot vouch for."""
        match = _ENTRY_KEY.fullmatch(key)
        if match is None:
            return None
        self._count("get")
        data = self.bucket.get(key, MAX_RECORD)
        if data is None:
            return None
        return parse_entry(data, match.group(1), key)

    # -- claims -------------------------------------------------------------------

    def claims(self, fingerprint: str) -> list[Claim]:
        """The claims on a request, oldest generation first (unreadable ones are live
        claims of nobody in particular: being written, or damaged)."""
        hexed = fingerprint_hex(fingerprint)
        if hexed is None:
            return []
        self._count("list")
        found = []
        for key in self.bucket.list(f"claims/{hexed}/"):
            match = _CLAIM_KEY.fullmatch(key)
            if match and match.group(1) == hexed:
                self._count("get")
                data = self.bucket.get(key, MAX_RECORD)
                found.append(parse_claim(data or b"", int(match.group(2))))
        return sorted(found, key=lambda claim: claim.gen)

    def claim(self, fingerprint: str, claim: Claim) -> bool:
        """Create claim generation ``claim.gen`` if nobody has: True if it is now ours."""
        self._count("put")
        return self.bucket.create(_claim_key(fingerprint, claim.gen), claim.encode())

    def refresh(self, fingerprint: str, claim: Claim) -> None:
        """Rewrite our own claim (a heartbeat, a task it now names, its release)."""
        self._count("put")
        self.bucket.put(_claim_key(fingerprint, claim.gen), claim.encode())


def _claim_key(fingerprint: str, gen: int) -> str:
    hexed = fingerprint_hex(fingerprint)
    if hexed is None:
        raise ValueError(f"not a fingerprint: {fingerprint!r}")
    return f"claims/{hexed}/{gen:08d}.json"


def parse_entry(data: bytes, fingerprint_hex: str, key: str) -> RemoteEntry | None:
    """A remote entry from its bytes, or None: the index's checked line format, a known
    format number, a machine name and a figure id of safe characters, and the
    fingerprint its key names."""
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("v") != REMOTE_FORMAT:
        return None
    machine, line = document.get("machine"), document.get("line")
    if not isinstance(machine, str) or not isinstance(line, str) or not _MACHINE.fullmatch(machine):
        return None
    try:
        entry = decode(line.encode("utf-8"))
    except DamagedLine:
        return None
    sane = (
        entry.fingerprint == f"sha256:{fingerprint_hex}"
        and _FIGURE.fullmatch(entry.figure)
        and _SUFFIX.fullmatch(entry.suffix)
        and _WHEN.fullmatch(entry.when)
        and (entry.task_id is None or _TASK.fullmatch(entry.task_id))
        and (entry.candidate is None or 1 <= entry.candidate <= 64)
        and not entry.trimmed
    )
    return RemoteEntry(entry, machine, key) if sane else None


def parse_claim(data: bytes, gen: int) -> Claim:
    """A claim from its bytes; one that cannot be read counts as a live claim of
    nobody in particular (it may be being written), which expires like any other."""
    unknown = Claim(machine="unknown", run="", since=0.0, gen=gen, beat=-1)
    try:
        document: Any = json.loads(data.decode("utf-8"))
        if not isinstance(document, dict) or document.get("v") != REMOTE_FORMAT:
            return unknown
        tasks = tuple(_task(item) for item in document.get("tasks", []))
        machine, run = document["machine"], document["run"]
        if not (isinstance(machine, str) and _MACHINE.fullmatch(machine) and isinstance(run, str)):
            return unknown
        return Claim(
            machine=machine,
            run=run[:64],
            since=float(document["since"]),
            beat=int(document["beat"]),
            beat_at=float(document["beat_at"]),
            tasks=tasks,
            released=document["released"] is True,
            gen=gen,
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return unknown


def _task(item: Mapping[str, Any]) -> Task:
    task_id, candidate, credits = item["task_id"], item["candidate"], item["credits"]
    if not (isinstance(task_id, str) and _TASK.fullmatch(task_id)):
        raise ValueError("bad task id")
    if candidate is not None and not (type(candidate) is int and 1 <= candidate <= 64):
        raise ValueError("bad candidate")
    if not (type(credits) is int and 0 <= credits <= 10_000):
        raise ValueError("bad credits")
    return Task(task_id, candidate, credits)


def open_remote(url: str) -> Remote:
    """The remote ``url`` names: ``s3://bucket/prefix`` or ``file:///path``. The S3
    client is imported here, only when a remote is configured."""
    if url.startswith("s3://"):
        from figbuild.store.s3 import S3Bucket

        return Remote(S3Bucket(url))
    if url.startswith("file://"):
        from figbuild.store.folder import FolderBucket

        return Remote(FolderBucket(url))
    raise RemoteError(
        f"{REMOTE_ENV} / remote: {url!r} is not a remote figbuild knows",
        hint="use s3://bucket/prefix or file:///absolute/path",
    )


def check_url(url: str) -> str | None:
    """Why ``url`` cannot name a remote (credentials in it, an unknown scheme), or None."""
    if not url.startswith(("s3://", "file://")):
        return "a remote is s3://bucket/prefix or file:///absolute/path"
    if url.startswith("s3://") and "@" in url.split("/", 3)[2]:
        return "credentials never go in the remote's URL: they come from the AWS chain"
    if url.startswith("file://") and not url.startswith("file:///"):
        return "a folder remote is file:///absolute/path"
    return None


def unique(entries: Iterable[RemoteEntry]) -> list[RemoteEntry]:
    """Entries newest first, one per key."""
    seen = {item.key: item for item in entries}
    return sorted(seen.values(), key=lambda item: item.entry.order, reverse=True)
