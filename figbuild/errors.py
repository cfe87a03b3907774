"""The one error hierarchy of figbuild and the exit codes it maps to.

Every problem a user can cause is a :class:`FigbuildError`; its ``str`` is the
message shown to the user, including what to do about it. The CLI turns these
into exit codes in exactly one place (``cli.main``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from figbuild.records import frozen


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a figure could not be produced, or the API refused
    USAGE = 2  # a usage, configuration or manifest error
    INTERRUPTED = 130


class FigbuildError(Exception):
    """Root of every error figbuild reports to a user without a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(FigbuildError):
    """Bad arguments, a missing manifest, a missing or malformed setting."""


@frozen
class Problem:
    """One thing wrong in a manifest, located as precisely as we can."""

    path: str
    message: str
    line: int | None = None
    figure: str | None = None
    key: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        subject = []
        if self.figure is not None:
            subject.append(f"figure '{self.figure}'")
        if self.key is not None:
            subject.append(f"key '{self.key}'")
        text = f"{where}: {', '.join(subject)}: {self.message}" if subject else (f"{where}: {self.message}")
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ManifestError(FigbuildError):
    """The manifest, or a content source it names, is wrong. Carries every problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the manifest; nothing was sent or written"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class LockFileError(FigbuildError):
    """figures.lock cannot be read: corrupt, or written by a newer figbuild."""


class FileError(FigbuildError):
    """A file or folder the whole run needs (the state folder, the lock, the paper
    folder) cannot be read or written; nothing was sent."""


class ApiError(FigbuildError):
    """The Paper Banana API refused a request or could not be reached."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class BadRequest(ApiError):
    """400: the server rejected the parameters."""


class Unauthorized(ApiError):
    """401: the key is missing or invalid."""


class PaymentRequired(ApiError):
    """402: not enough credits."""


class Forbidden(ApiError):
    """403: no Team plan, or a plan limit was exceeded."""


class NotFound(ApiError):
    """404: the task does not exist."""


class RateLimited(ApiError):
    """429 after every retry allowed."""


class ServerError(ApiError):
    """5xx after every retry allowed."""


class NetworkError(ApiError):
    """The server could not be reached, or the connection broke."""


class MalformedResponse(ApiError):
    """The server answered something that is not the documented JSON."""


class AmbiguousSubmission(ApiError):
    """A POST /generate failed in a way that may have created (and charged) a task.

    It must be reconciled against GET /tasks before the request is sent again.
    """

    def __init__(self, message: str, *, submitted_after: float, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.submitted_after = submitted_after


class BudgetExceeded(FigbuildError):
    """The plan costs more than the user allowed or has; nothing was sent."""

    exit_code = ExitCode.FAILED


class CapExceeded(BudgetExceeded):
    """The plan costs more than ``--max-credits`` allows."""


class Interrupted(FigbuildError):
    """The user pressed Ctrl-C; work that was submitted is recorded as pending."""

    exit_code = ExitCode.INTERRUPTED
