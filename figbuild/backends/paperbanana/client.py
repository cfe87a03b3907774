"""The Paper Banana API client: the one place figbuild talks HTTP to the service.

Typed results, one pooled ``requests.Session``, explicit timeouts, client-side rate
limiting, and errors that say what to do. Each attempt is sent by :meth:`Client._send`
and classified by :class:`_Failure`; whether to send it again is for the
:class:`~figbuild.backends.paperbanana.retry.RetryPolicy` alone. ``POST /generate``
is never resent blindly: a failure that may have created a task is raised as
:class:`~figbuild.errors.AmbiguousSubmission` for the caller to reconcile.
The API key lives only in :class:`Settings` (never in a repr) and in the
``Authorization`` header of requests to the API root, never of downloads.
"""

from __future__ import annotations

import email.utils
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

import requests
import urllib3

from figbuild import __version__
from figbuild.backends.paperbanana.ratelimit import RateLimiter
from figbuild.backends.paperbanana.retry import Action, Outcome, RetryPolicy
from figbuild.backends.paperbanana.settings import KEY_HINT, NETWORK_HINT, Settings
from figbuild.errors import (
    AmbiguousSubmission,
    ApiError,
    BadRequest,
    FigbuildError,
    Forbidden,
    Interrupted,
    MalformedResponse,
    NetworkError,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServerError,
    Unauthorized,
)
from figbuild.safetext import printable
from figbuild.urls import check_url

#: Used until /credits tells the key's own limit: the lowest plan's.
DEFAULT_RPM = 120
#: Connections kept open per host: as many as a sync runs workers (engine.MAX_JOBS).
#: requests keeps 10, so a burst of submissions or downloads from more threads opened
#: (and then threw away) a new connection for each request past the tenth.
POOL_SIZE = 128


@dataclass(frozen=True)
class Credits:
    remaining_credits: int
    team_plan: str
    rate_limit_rpm: int


@dataclass(frozen=True)
class Submission:
    task_id: str
    type: str
    model: str
    credits_used: int
    status: str
    #: When the attempt that created the task was sent (the client's clock, after the
    #: rate limiter let it go): the task is no older than this.
    sent: float | None = None


@dataclass(frozen=True)
class Task:
    task_id: str
    type: str
    status: str
    prompt: str
    model: str
    resolution: str | None
    credits_used: int
    output_urls: tuple[str, ...]
    created_at: str | None
    completed_at: str | None
    error: str | None
    aspect_ratio: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Task:
        try:
            return cls(
                task_id=str(data["task_id"]),
                type=str(data.get("type", "")),
                status=str(data["status"]),
                prompt=str(data.get("prompt", "")),
                model=str(data.get("model", "")),
                resolution=_optional(data.get("resolution")),
                aspect_ratio=_optional(data.get("aspect_ratio")),
                credits_used=int(data.get("credits_used") or 0),
                output_urls=tuple(str(url) for url in data.get("output_urls") or ()),
                created_at=_optional(data.get("created_at")),
                completed_at=_optional(data.get("completed_at")),
                error=_optional(data.get("error")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"the API sent a task figbuild cannot read ({exc})") from None


def _optional(value: Any) -> str | None:
    """A text field of a task, None when absent; server text is made safe to print."""
    return None if value is None else printable(str(value))


@dataclass(frozen=True)
class TaskPage:
    tasks: tuple[Task, ...]
    page: int
    limit: int
    total: int


_STATUS_ERRORS: dict[int, tuple[type[ApiError], str, str | None]] = {
    400: (BadRequest, "the API rejected the request", None),
    401: (Unauthorized, "the API refused the key", KEY_HINT),
    402: (PaymentRequired, "not enough credits", "top up your Team plan's credits, or sync fewer figures"),
    403: (Forbidden, "the API refused access", "API access needs an active Team plan; check its limits"),
    404: (NotFound, "not found", None),
}


def retry_after(response: requests.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class Client:
    """A Paper Banana API client; use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        """``trace``, when given, receives one line per request (method, path, status, time)."""
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self._trace = trace
        self.limiter = limiter or RateLimiter(DEFAULT_RPM, settings.window)
        self._rpm_known = limiter is not None
        self._sleep = sleep
        self._clock = clock
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        for scheme in ("http://", "https://"):
            self._session.mount(scheme, adapter)
        self._session.headers["User-Agent"] = f"figbuild/{__version__}"
        # Never read ~/.netrc or proxy settings that could send the key elsewhere.
        self._session.trust_env = False
        #: Server clock minus ours, in seconds, from the last answer's Date header
        #: (None until an answer carried one).
        self.server_offset: float | None = None
        #: This thread's last attempt: ``sent``, when it left (``clock``).
        self._attempt = threading.local()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.settings.base_url!r})"

    # -- endpoints ---------------------------------------------------------

    def credits(self) -> Credits:
        """``GET /credits``; also sets the rate limiter to the key's limit."""
        data = self._call("GET", "/credits")
        try:
            credits = Credits(
                remaining_credits=int(data["remaining_credits"]),
                team_plan=str(data["team_plan"]),
                rate_limit_rpm=int(data["rate_limit_rpm"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"the API sent credits figbuild cannot read ({exc})") from None
        self.limiter.set_rpm(credits.rate_limit_rpm)
        self._rpm_known = True
        return credits

    def generate(self, body: Mapping[str, Any]) -> Submission:
        """``POST /generate``. Raises AmbiguousSubmission when a task may exist anyway,
        including a 2xx answer that names no task: the server may have created one."""
        started = time.time()
        data = self._call("POST", "/generate", json=dict(body), idempotent=False)
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or not str(task_id):
            raise AmbiguousSubmission(
                "POST /generate succeeded but its answer names no task; a task may have been created",
                submitted_after=started,
            )
        try:
            return Submission(
                task_id=str(task_id),
                type=str(data.get("type", body.get("type"))),
                model=str(data.get("model", body.get("model"))),
                credits_used=int(data.get("credits_used") or 0),
                status=str(data.get("status", "pending")),
                sent=getattr(self._attempt, "sent", None),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"the API accepted a task but sent no usable task id ({exc})") from None

    def task(self, task_id: str) -> Task:
        """``GET /task/:id``."""
        return Task.from_json(self._call("GET", f"/task/{quote(task_id, safe='')}"))

    def tasks(
        self, *, page: int = 1, limit: int = 20, type: str | None = None, status: str | None = None
    ) -> TaskPage:
        """One page of ``GET /tasks`` (``limit`` at most 100)."""
        params: dict[str, Any] = {"page": page, "limit": min(max(1, limit), 100)}
        if type:
            params["type"] = type
        if status:
            params["status"] = status
        data = self._call("GET", "/tasks", params=params)
        try:
            tasks = tuple(Task.from_json(item) for item in data["tasks"])
            pagination = data.get("pagination") or {}
            return TaskPage(
                tasks=tasks,
                page=int(pagination.get("page", page)),
                limit=int(pagination.get("limit", params["limit"])),
                total=int(pagination.get("total", len(tasks))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"the API sent a task list figbuild cannot read ({exc})") from None

    def iter_tasks(self, *, type: str | None = None, status: str | None = None) -> Iterator[Task]:
        """Every task, page by page (100 a page), newest first as the API lists them."""
        page = 1
        while True:
            result = self.tasks(page=page, limit=100, type=type, status=status)
            yield from result.tasks
            if not result.tasks or page * result.limit >= result.total:
                return
            page += 1

    def download(
        self,
        url: str,
        out: BinaryIO,
        chunk_size: int = 1 << 16,
        stop: threading.Event | None = None,
    ) -> int:
        """Stream the image at ``url`` into ``out`` (seekable); return the bytes written.

        No key is sent (the image host is not the API). A cut download (a body
        shorter than its Content-Length, a dropped connection, a 5xx) is a network
        error on a read, retried as the policy says, from the start. A URL figbuild
        refuses, or a body over ``settings.max_download``, is a MalformedResponse.
        ``stop`` being set interrupts it between chunks.
        """
        try:
            check_url(url, "image URL")
        except FigbuildError as exc:
            raise MalformedResponse(
                f"the API gave an image location figbuild refuses: {exc.message}"
            ) from None
        began = self._clock()
        for attempt in itertools.count(1):
            out.seek(0)
            out.truncate()
            try:
                return self._download_once(url, out, chunk_size, stop, began)
            except _CutDownload as cut:
                decision = self.policy.decide(
                    cut.outcome, idempotent=True, attempt=attempt, elapsed=self._clock() - began
                )
                if decision.action is not Action.RETRY:
                    raise cut.error from None
                self._note("GET", url, time.time(), f"{cut.error.message}; retrying")
                if stop is not None and stop.wait(decision.wait):
                    raise Interrupted("interrupted during a download") from None
                if stop is None:
                    self._sleep(decision.wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _download_once(
        self, url: str, out: BinaryIO, chunk_size: int, stop: threading.Event | None, began: float
    ) -> int:
        limit = self.settings.max_download
        deadline = began + self.policy.download_deadline
        too_large = MalformedResponse(f"the image at {printable(url)} is larger than {limit} bytes; refused")
        try:
            with self._session.get(
                url, stream=True, timeout=(self.settings.connect_timeout, self.settings.read_timeout)
            ) as response:
                status = response.status_code
                if status != 200:
                    error = NetworkError(f"download of {printable(url)} failed: HTTP {status}", status=status)
                    outcome = (
                        Outcome.RATE_LIMITED
                        if status == 429
                        else Outcome.SERVER_ERROR
                        if status >= 500
                        else Outcome.REFUSED
                    )
                    raise _CutDownload(outcome, error)
                expected = response.headers.get("Content-Length")
                if expected is not None and expected.isdigit() and int(expected) > limit:
                    raise too_large
                written = 0
                while True:
                    if stop is not None and stop.is_set():
                        raise Interrupted("interrupted during a download")
                    if self._clock() > deadline:
                        raise MalformedResponse(
                            f"the download of {printable(url)} took longer than "
                            f"{self.policy.download_deadline:g} s; gave up"
                        )
                    # read1: whatever has arrived, so a trickle still looks at ``stop`` often.
                    chunk = response.raw.read1(chunk_size, decode_content=True)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > limit:
                        raise too_large
                    out.write(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            error = NetworkError(f"download of {printable(url)} was cut: {type(exc).__name__}")
            raise _CutDownload(Outcome.LOST, error) from None
        if expected is not None and expected.isdigit() and written != int(expected):
            error = NetworkError(f"download of {printable(url)} was cut: {written} of {expected} bytes")
            raise _CutDownload(Outcome.LOST, error)
        return written

    # -- transport ---------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one API request with the retries the policy allows; return its ``data``."""
        if not self._rpm_known and path != "/credits":
            self.credits()
        began = self._clock()
        for attempt in itertools.count(1):
            started = time.time()
            try:
                answer = _classify(self._send(method, path, params, json), method, path)
            except requests.RequestException as exc:
                answer = _Failure.of_exception(exc, method, path, self.settings.base_url)
            if isinstance(answer, _Data):
                return answer.value
            decision = self.policy.decide(
                answer.outcome,
                idempotent=idempotent,
                attempt=attempt,
                elapsed=self._clock() - began,
                retry_after=answer.retry_after,
            )
            if decision.action is Action.AMBIGUOUS:
                raise AmbiguousSubmission(
                    f"{answer.error.message}; a task may have been created",
                    submitted_after=started,
                    status=answer.error.status,
                )
            if decision.action is Action.GIVE_UP:
                raise answer.error
            self._sleep(decision.wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, json: Any) -> requests.Response:
        """One attempt, paced by the rate limiter; a network failure is raised as it comes."""
        started = time.time()
        self.limiter.acquire()
        self._attempt.sent = self._clock()
        try:
            response = self._session.request(
                method,
                self.settings.base_url + path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {self.settings.key}"},
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except requests.RequestException as exc:
            self._note(method, path, started, _describe(exc))
            raise
        finally:
            self.limiter.release()
        self._note(method, path, started, str(response.status_code))
        self._learn_offset(response)
        return response

    def _learn_offset(self, response: requests.Response) -> None:
        """Track how far the server's clock is from ours (its ``Date`` header), so
        that times it reports (a task's ``created_at``) can be compared with ours."""
        try:
            date = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return
        if date.tzinfo is not None:
            self.server_offset = date.timestamp() - time.time()

    def _note(self, method: str, path: str, started: float, outcome: str) -> None:
        if self._trace is not None:
            self._trace(f"api: {method} {path} -> {outcome} ({time.time() - started:.2f}s)")


class _CutDownload(Exception):
    """A download attempt that failed in a way the retry policy judges."""

    def __init__(self, outcome: Outcome, error: ApiError) -> None:
        super().__init__(error.message)
        self.outcome = outcome
        self.error = error


@dataclass(frozen=True)
class _Data:
    """The ``data`` of a successful answer."""

    value: Any


@dataclass(frozen=True)
class _Failure:
    """An attempt that yielded no data: what it came to, and the error to raise if final."""

    outcome: Outcome
    error: ApiError
    retry_after: float | None = None

    @classmethod
    def of_exception(cls, exc: requests.RequestException, method: str, path: str, base_url: str) -> _Failure:
        if isinstance(exc, requests.ConnectTimeout):
            # Nothing reached the server, so even a POST is safe to send again.
            error = NetworkError(f"could not connect to {base_url} (timed out)", hint=NETWORK_HINT)
            return cls(Outcome.NOT_SENT, error)
        return cls(Outcome.LOST, NetworkError(f"{method} {path} failed: {_describe(exc)}", hint=NETWORK_HINT))


def _classify(response: requests.Response, method: str, path: str) -> _Data | _Failure:
    """An answer's data, or the failure it is."""
    status = response.status_code
    message = _server_message(response)
    if status == 429:
        limited = RateLimited(
            f"rate limit exceeded: {message}", status=status, hint="wait a minute, or lower --jobs"
        )
        return _Failure(Outcome.RATE_LIMITED, limited, retry_after(response))
    if status >= 500:
        down = ServerError(
            f"the API failed: HTTP {status}: {message}",
            status=status,
            hint="the service may be down; try again later",
        )
        return _Failure(Outcome.SERVER_ERROR, down)
    if status in _STATUS_ERRORS:
        kind, what, hint = _STATUS_ERRORS[status]
        return _Failure(Outcome.REFUSED, kind(f"{what}: {message}", status=status, hint=hint))
    if status >= 400:
        return _Failure(
            Outcome.REFUSED, ApiError(f"the API answered HTTP {status}: {message}", status=status)
        )
    try:
        body = response.json()
    except ValueError:
        unreadable = MalformedResponse(
            f"{method} {path} answered HTTP {status} with a body that is not JSON", status=status
        )
        return _Failure(Outcome.UNREADABLE, unreadable)
    if not isinstance(body, dict) or body.get("success") is not True or "data" not in body:
        unexpected = MalformedResponse(
            f"{method} {path} answered an unexpected document: {message}", status=status
        )
        return _Failure(Outcome.UNREADABLE, unexpected)
    return _Data(body["data"])


def _server_message(response: requests.Response) -> str:
    """The server's ``error`` text, or a short description of a body that has none."""
    try:
        body = response.json()
    except ValueError:
        kind = printable(response.headers.get("Content-Type", "unknown type").split(";")[0][:80])
        reason = printable(response.reason or "")
        return f"HTTP {response.status_code} {reason}".strip() + f" ({kind} body, not JSON)"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return printable(error[:500])
    return f"HTTP {response.status_code} {printable(response.reason or '')}".strip()


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    return type(exc).__name__
