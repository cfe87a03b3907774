"""The store's records: what a caller tells it about an image, and what it keeps."""

from __future__ import annotations

from enum import Enum

from figbuild.errors import ExitCode, FigbuildError
from figbuild.records import frozen


class StoreError(FigbuildError):
    """The store cannot be written (permissions, a full disk): nothing was recorded."""

    exit_code = ExitCode.FAILED


class How(str, Enum):
    """How an image came to be stored."""

    GENERATED = "generated"  # paid for, the only image of its request
    CANDIDATE = "candidate"  # paid for, one of `candidates: N`
    RESTORED = "restored"  # put in place from history, for 0 credits
    ACCEPTED = "accepted"  # an image on disk adopted by `figbuild accept`
    HAND_EDIT = "hand-edit"  # a modified output kept before `sync --force` overwrote it
    PLACEHOLDER = "placeholder"  # drawn locally: provisional, never taken for a real image
    EMULATOR = "emulator"  # made by the bundled emulator: provisional too

    @property
    def provisional(self) -> bool:
        """Whether a real sync must replace an image made this way."""
        return self in (How.PLACEHOLDER, How.EMULATOR)

    @classmethod
    def of(cls, text: str) -> How:
        """The ``how`` a lock records, read leniently: an unknown word counts as generated."""
        return cls(text) if text in cls._value2member_map_ else cls.GENERATED


@frozen
class Meta:
    """What the caller knows about an image it stores.

    ``fingerprint`` is the digest of the exact request the image answers (as the
    lock records it, ``sha256:…``); ``when`` defaults to the store's clock and
    ``suffix`` to the source file's extension or the format its bytes name.
    """

    fingerprint: str
    figure: str
    how: How
    task_id: str | None = None
    credits: int = 0
    model: str | None = None
    resolution: str | None = None
    candidate: int | None = None
    changed: str = ""
    when: str | None = None
    suffix: str | None = None


@frozen
class Entry:
    """One stored version of a figure: an index line, pointing at an object by hash.

    ``id`` is unique in the store and sorts by creation time. ``paper`` names the
    paper that stored it (see :func:`figbuild.store.disk.paper_id`). A ``trimmed``
    entry keeps its record (for ``log`` and the credit ledger) after ``gc``
    removed its bytes; it is never restored.
    """

    id: str
    fingerprint: str
    figure: str
    paper: str
    sha256: str
    suffix: str
    size: int
    how: How
    when: str
    task_id: str | None = None
    credits: int = 0
    model: str | None = None
    resolution: str | None = None
    candidate: int | None = None
    changed: str = ""
    trimmed: bool = False

    @property
    def order(self) -> tuple[str, str]:
        """Sort key: oldest first; ``id`` breaks ties within one second."""
        return (self.when, self.id)


@frozen
class StoreWarning:
    """Something in the store figbuild worked around: a damaged index line, a
    missing or corrupt object. Reported, never raised."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@frozen
class GcResult:
    """What :meth:`Store.gc` did (or, with ``dry_run``, would do)."""

    trimmed: tuple[Entry, ...]
    removed_objects: tuple[str, ...]
    freed_bytes: int
    kept_entries: int
