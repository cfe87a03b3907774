"""The Paper Banana API client: the one place figbuild talks HTTP to the service.

Typed results, one pooled ``requests.Session``, explicit timeouts, retries that
are safe (reads, and 429s, which the server did not act on), client-side rate
limiting, and errors that say what to do. ``POST /generate`` is never resent
blindly: a failure that may have created a task is raised as
:class:`~figbuild.errors.AmbiguousSubmission` for the caller to reconcile.
The API key lives only in :class:`Settings` (never in a repr) and in the
``Authorization`` header of requests to the API root, never of downloads.
"""

from __future__ import annotations

import email.utils
import ipaddress
import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests

from figbuild import __version__
from figbuild.errors import (
    AmbiguousSubmission,
    ApiError,
    BadRequest,
    Forbidden,
    MalformedResponse,
    NetworkError,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServerError,
    Unauthorized,
    UsageError,
)
from figbuild.ratelimit import RateLimiter

KEY_ENV = "PAPERBANANA_API_KEY"
BASE_URL_ENV = "PAPERBANANA_BASE_URL"
DEFAULT_BASE_URL = "https://paperbanana.run/api/v1"
#: Used until /credits tells the key's own limit: the lowest plan's.
DEFAULT_RPM = 120
EMULATOR_KEY = "sk-emulator"
_NETWORK_HINT = f"check your network connection and {BASE_URL_ENV}"
_KEY_HINT = f"set {KEY_ENV} to your sk-... key from the Paper Banana API Keys dashboard"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is https://, or http:// to a loopback host; else a UsageError."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise UsageError(
        f"refusing {what} {url!r}: only https:// URLs (or http:// to a loopback host) are allowed",
        hint="the Paper Banana API is served over https; http is for the local emulator",
    )


@dataclass(frozen=True)
class Settings:
    base_url: str
    key: str = field(repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    #: Longest a single call may spend retrying, in seconds.
    deadline: float = 300.0
    #: The rate limit's window; the server's is a minute, tests shorten it.
    window: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_ENV, "").strip()
        if not key:
            raise UsageError(f"{KEY_ENV} is not set; the Paper Banana API needs a key", hint=_KEY_HINT)
        if not key.startswith("sk-"):
            raise UsageError(
                f"{KEY_ENV} does not look like a Paper Banana key (they start with sk-)", hint=_KEY_HINT
            )
        base_url = environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
        return cls(base_url=check_url(base_url.rstrip("/"), BASE_URL_ENV), key=key)

    @classmethod
    def for_emulator(cls, base_url: str) -> Settings:
        return cls(base_url=check_url(base_url.rstrip("/"), "emulator URL"), key=EMULATOR_KEY)


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

    @classmethod
    def from_json(cls, data: Any) -> Task:
        try:
            return cls(
                task_id=str(data["task_id"]),
                type=str(data.get("type", "")),
                status=str(data["status"]),
                prompt=str(data.get("prompt", "")),
                model=str(data.get("model", "")),
                resolution=data.get("resolution"),
                credits_used=int(data.get("credits_used") or 0),
                output_urls=tuple(str(url) for url in data.get("output_urls") or ()),
                created_at=data.get("created_at"),
                completed_at=data.get("completed_at"),
                error=data.get("error"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"the API sent a task figbuild cannot read ({exc})") from None


@dataclass(frozen=True)
class TaskPage:
    tasks: tuple[Task, ...]
    page: int
    limit: int
    total: int


_STATUS_ERRORS: dict[int, tuple[type[ApiError], str, str | None]] = {
    400: (BadRequest, "the API rejected the request", None),
    401: (Unauthorized, "the API refused the key", _KEY_HINT),
    402: (PaymentRequired, "not enough credits", "top up your Team plan's credits, or sync fewer figures"),
    403: (Forbidden, "the API refused access", "API access needs an active Team plan; check its limits"),
    404: (NotFound, "not found", None),
}


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto


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
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        """``trace``, when given, receives one line per request (method, path, status, time)."""
        self.settings = settings
        self._trace = trace
        self.limiter = limiter or RateLimiter(DEFAULT_RPM, settings.window)
        self._rpm_known = limiter is not None
        self._sleep = sleep
        self._clock = clock
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"figbuild/{__version__}"
        # Never read ~/.netrc or proxy settings that could send the key elsewhere.
        self._session.trust_env = False
        #: Requests sent (every attempt), and 429s seen; for reports and benchmarks.
        self.requests_sent = 0
        self.rate_limited = 0
        self._count_lock = threading.Lock()

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
        """``POST /generate``. Raises AmbiguousSubmission when a task may exist anyway."""
        data = self._call("POST", "/generate", json=dict(body), idempotent=False)
        try:
            return Submission(
                task_id=str(data["task_id"]),
                type=str(data.get("type", body.get("type"))),
                model=str(data.get("model", body.get("model"))),
                credits_used=int(data.get("credits_used") or 0),
                status=str(data.get("status", "pending")),
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

    def download(self, url: str, out: BinaryIO, chunk_size: int = 1 << 16) -> int:
        """Stream the image at ``url`` into ``out``; return the bytes written.

        No key is sent (the image host is not the API). A body shorter than its
        Content-Length is an error, so a cut download is never taken for an image.
        """
        check_url(url, "image URL")
        try:
            with self._session.get(
                url, stream=True, timeout=(self.settings.connect_timeout, self.settings.read_timeout)
            ) as response:
                if response.status_code != 200:
                    raise NetworkError(
                        f"download of {url} failed: HTTP {response.status_code}", status=response.status_code
                    )
                expected = response.headers.get("Content-Length")
                written = 0
                for chunk in response.iter_content(chunk_size):
                    out.write(chunk)
                    written += len(chunk)
        except requests.RequestException as exc:
            raise NetworkError(f"download of {url} was cut: {type(exc).__name__}") from None
        if expected is not None and expected.isdigit() and written != int(expected):
            raise NetworkError(f"download of {url} was cut: {written} of {expected} bytes")
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
        """Send one API request with the retries SPEC.md allows; return its ``data``."""
        if not self._rpm_known and path != "/credits":
            self.credits()
        give_up_at = self._clock() + self.settings.deadline
        for attempt in itertools.count(1):
            result = self._attempt(method, path, params, json, idempotent)
            if not isinstance(result, _Retry):
                return result
            wait = result.wait if result.wait is not None else backoff(attempt)
            if attempt >= self.settings.max_attempts or self._clock() + wait > give_up_at:
                raise result.error
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any, idempotent: bool
    ) -> Any:
        """One request: its ``data``, a :class:`_Retry`, or an ApiError that must not be retried."""
        started = time.time()
        self.limiter.acquire()
        try:
            with self._count_lock:
                self.requests_sent += 1
            response = self._session.request(
                method,
                self.settings.base_url + path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {self.settings.key}"},
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except requests.ConnectTimeout:
            self._note(method, path, started, "connect timeout")
            # Nothing reached the server, so even a POST is safe to send again.
            return _Retry(
                NetworkError(f"could not connect to {self.settings.base_url} (timed out)", hint=_NETWORK_HINT)
            )
        except requests.RequestException as exc:
            self._note(method, path, started, _describe(exc))
            if not idempotent:
                raise AmbiguousSubmission(
                    f"{method} {path} failed after sending ({_describe(exc)}); a task may have been created",
                    submitted_after=started,
                ) from None
            return _Retry(NetworkError(f"{method} {path} failed: {_describe(exc)}", hint=_NETWORK_HINT))
        finally:
            self.limiter.release()
        status = response.status_code
        self._note(method, path, started, str(status))
        message = _server_message(response)
        if status == 429:
            with self._count_lock:
                self.rate_limited += 1
            error = RateLimited(
                f"rate limit exceeded: {message}", status=status, hint="wait a minute, or lower --jobs"
            )
            return _Retry(error, retry_after(response))
        if status >= 500:
            if not idempotent:
                raise AmbiguousSubmission(
                    f"{method} {path} answered {status} ({message}); a task may have been created",
                    submitted_after=started,
                    status=status,
                )
            return _Retry(
                ServerError(
                    f"the API failed: HTTP {status}: {message}",
                    status=status,
                    hint="the service may be down; try again later",
                )
            )
        if status in _STATUS_ERRORS:
            cls, what, hint = _STATUS_ERRORS[status]
            raise cls(f"{what}: {message}", status=status, hint=hint)
        if status >= 400:
            raise ApiError(f"the API answered HTTP {status}: {message}", status=status)
        try:
            body = response.json()
        except ValueError:
            raise MalformedResponse(
                f"{method} {path} answered HTTP {status} with a body that is not JSON", status=status
            ) from None
        if not isinstance(body, dict) or body.get("success") is not True or "data" not in body:
            raise MalformedResponse(
                f"{method} {path} answered an unexpected document: {message}", status=status
            )
        return body["data"]

    def _note(self, method: str, path: str, started: float, outcome: str) -> None:
        if self._trace is not None:
            self._trace(f"api: {method} {path} -> {outcome} ({time.time() - started:.2f}s)")


@dataclass(frozen=True)
class _Retry:
    """A failed attempt that may be repeated, after ``wait`` seconds if the server said."""

    error: ApiError
    wait: float | None = None


def _server_message(response: requests.Response) -> str:
    """The server's ``error`` text, or a short description of a body that has none."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
        return f"HTTP {response.status_code} {response.reason or ''}".strip() + f" ({kind} body, not JSON)"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    return type(exc).__name__
