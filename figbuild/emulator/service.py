"""The emulated Paper Banana service, without sockets: requests in, replies out.

It answers the Paper Banana API as its reference documents it (plus the shapes
figbuild's user contract assumes where the reference is silent): the same validation, credit costs, per-key
sliding-window rate limit and task life cycle (pending -> processing -> success
or failed), and a placeholder image for every finished task. :class:`Faults`
injects the failures a careful client must survive. :mod:`.http` puts it on a
loopback port; tests may also call :meth:`Service.handle` directly.

Standard library only (plus the placeholder painter). Nothing here prints.
"""

from __future__ import annotations

import json
import math
import queue
import random
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from figbuild import images, placeholder
from figbuild.emulator.checks import (
    Generate,
    Invalid,
    parse_generate,
    parse_list_query,
)
from figbuild.emulator.faults import (
    AFTER_CREATE,
    BEFORE,
    HOSTILE_URLS,
    IN_DOWNLOADS,
    IN_VIEWS,
    Faults,
    Injection,
)
from figbuild.emulator.task import EmulatedTask

API_PREFIX = "/api/v1"
FILES_PREFIX = "/files/"

CREDIT_COST = {"1K": 10, "2K": 15, "4K": 25}

#: How many drawn images are kept; older ones are simply drawn again.
IMAGE_CACHE_SIZE = 8
#: Bytes of images drawn while their tasks run (as the real service makes its images),
#: kept until downloaded; past it, images are drawn when downloaded.
MADE_BYTES = 64 << 20

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "PDF": "application/pdf"}

#: Methods the HTTP layer passes on; the endpoints themselves allow GET or POST.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_TASK_PATH = re.compile(r"/task/([^/]+)")
_FILE_PATH = re.compile(re.escape(FILES_PREFIX) + r"([^/]+)\.png")


@dataclass
class EmulatorConfig:
    """How the emulator behaves; ``faults`` may be changed at run time."""

    host: str = "127.0.0.1"  # loopback only
    port: int = 0  # 0: any free port
    latency: float = 0.0  # seconds from creation to the end; "pending" for the first 20%
    #: Each task's latency is drawn from latency * (1 +- jitter), uniformly (seeded).
    jitter: float = 0.0
    rpm: int = 120  # API requests per key and window (image downloads are free)
    window: float = 60.0  # rate-limit window in seconds
    credits: int = 75_000
    plan: str = "team-basic"
    fail_rate: float = 0.0  # chance that a task fails, drawn from random.Random(seed)
    seed: int = 0
    image_scale: float = 1.0  # served images are the documented pixel size times this
    #: The one key accepted; None accepts any ``sk-`` key. Rehearses a refused key.
    key: str | None = None
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator received. ``status`` is 0 when it closed without answering."""

    method: str
    path: str
    query: str
    status: int
    key: str | None
    time: float


@dataclass(frozen=True)
class Request:
    """One HTTP request as the service sees it."""

    method: str
    path: str
    query: str
    authorization: str | None
    body: bytes | None  # None: unreadable (no valid Content-Length, chunked or too large)
    origin: str = "http://127.0.0.1"  # scheme://host:port the client reached, for image URLs

    @property
    def key(self) -> str | None:
        """The bearer token as sent, or None when there is none."""
        scheme, _, token = (self.authorization or "").strip().partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class Reply:
    """The service's answer; the HTTP layer sends it as it says."""

    status: int  # 0: close the connection without answering
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    truncate: bool = False  # send the full Content-Length but only half the body
    trickle: float = 0.0  # seconds between 1 KiB pieces of the body
    endless: bool = False  # no Content-Length; after the body, bytes until the client hangs up


_DROP = Reply(0)
_BAD_GATEWAY = Reply(
    502,
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>injected by the emulator</p></body></html>",
    content_type="text/html; charset=utf-8",
)


def _ok(data: object) -> Reply:
    return Reply(200, json.dumps({"success": True, "data": data}).encode())


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = json.dumps({"success": False, "error": message}).encode()
    return Reply(status, body, headers=headers)


_INJECTED_500 = _error(500, "internal error (injected)")
# Server text that would repaint a terminal if printed as is.
_HOSTILE_500 = _error(500, "internal error\x1b[2J\x1b[31m (injected)\r")
_HTML_200 = Reply(
    200,
    b"<html><body><h1>Welcome</h1><p>Sign in to the network to continue.</p></body></html>",
    content_type="text/html; charset=utf-8",
)
_NO_TASK_ID = _ok({"status": "pending"})


def _phase(request: Request) -> str:
    """Which phase of a sync ``request`` belongs to (see :data:`PHASES`)."""
    if request.path.startswith(FILES_PREFIX):
        return "download"
    sub = request.path[len(API_PREFIX) :]
    if sub == "/generate":
        return "submit"
    if sub == "/tasks":
        return "list"
    if sub.startswith("/task/"):
        return "poll"
    return "credits"


class Service:
    """The emulated API's state and answers. All state lives in memory under one lock."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config if config is not None else EmulatorConfig()
        #: Drives task status and the rate-limit window; tests pass a fake one.
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random(self._config.seed)  # noqa: S311 - simulation, not security
        self._tasks: dict[str, EmulatedTask] = {}  # insertion order is creation order
        self._windows: dict[str, deque[float]] = {}
        self._records: list[RequestRecord] = []
        self._images: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        #: Images drawn while their task ran, by (task id, format); what they weigh.
        self._made: dict[tuple[str, str], bytes] = {}
        self._made_bytes = 0
        self._to_make: queue.SimpleQueue[EmulatedTask] = queue.SimpleQueue()
        self._maker: threading.Thread | None = None
        self._charged = 0

    # -- what tests and the CLI read ----------------------------------------

    @property
    def config(self) -> EmulatorConfig:
        """The live configuration; change ``config.faults`` to inject failures."""
        return self._config

    def records(self) -> list[RequestRecord]:
        """Every request answered so far, in arrival order."""
        with self._lock:
            records = list(self._records)
        # Appended as answers finish; a slow download may finish after a later request.
        return sorted(records, key=lambda record: record.time)

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests with ``method`` had a path starting with ``path_prefix``."""
        return sum(1 for r in self.records() if r.method == method and r.path.startswith(path_prefix))

    @property
    def credits_charged(self) -> int:
        """Credits debited since the emulator was created."""
        with self._lock:
            return self._charged

    @property
    def remaining_credits(self) -> int:
        """The balance GET /credits reports."""
        with self._lock:
            return self._config.credits - self._charged

    def tasks(self, origin: str = "http://127.0.0.1") -> list[dict[str, Any]]:
        """Every task of every key, oldest first, as GET /task/:id would show it."""
        now = self._clock()
        file_base = origin + FILES_PREFIX
        with self._lock:
            return [task.view(now, file_base) for task in self._tasks.values()]

    def task_times(self) -> list[tuple[float, float]]:
        """When each task was created and is (or was) done, on the service's clock, oldest first."""
        with self._lock:
            return [(task.created, task.created + task.latency) for task in self._tasks.values()]

    # -- answering requests -------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer one request and record it; a bug becomes a 500, never an exception."""
        arrived = self._clock()
        try:
            reply = self._route(request)
        except Exception as exc:  # a bug must reach the client as JSON, not a dead socket
            reply = _error(500, f"emulator bug: {type(exc).__name__}: {exc}")
        record = RequestRecord(
            request.method, request.path, request.query, reply.status, request.key, arrived
        )
        with self._lock:
            self._records.append(record)
        return reply

    def _route(self, request: Request) -> Reply:
        if request.method not in METHODS:
            return _error(405, f"{request.method} is not supported", headers=(("Allow", "GET, POST"),))
        if request.path.startswith(FILES_PREFIX):
            return self._download(request)
        if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
            return self._api(request)
        return _error(404, f"not found: {request.path}")

    def _api(self, request: Request) -> Reply:
        # A gateway fails before the service sees the request: no auth, no rate count.
        if self._take_fault("bad_gateway"):
            return _BAD_GATEWAY
        before = self._injected(request, BEFORE)
        if before is not None:
            reply = self._before(before, request)
            if reply is not None:
                return reply
        key = request.key
        if key is None:
            return _error(401, "missing API key: send Authorization: Bearer sk-...")
        if not key.startswith("sk-") or self._config.key not in (None, key):
            return _error(401, "invalid API key")
        if self._take_fault("rate_limit_storm"):
            return self._rate_limited(1)
        wait = self._admit(key)
        if wait is not None:
            return self._rate_limited(wait)
        return self._endpoint(request, key)

    def _endpoint(self, request: Request, key: str) -> Reply:
        sub = request.path[len(API_PREFIX) :]
        match = _TASK_PATH.fullmatch(sub)
        action: Callable[[], Reply]
        if match:
            task_id = unquote(match[1])
            allowed, action = "GET", lambda: self._get_task(key, task_id, request.origin)
        elif sub == "/credits":
            allowed, action = "GET", self._credits
        elif sub == "/generate":
            allowed, action = "POST", lambda: self._generate(key, request.body)
        elif sub == "/tasks":
            allowed, action = "GET", lambda: self._list_tasks(key, request.query, request.origin)
        else:
            return _error(404, f"no such endpoint: {request.path}")
        if request.method != allowed:
            return _error(
                405,
                f"{request.method} is not allowed on {request.path}; use {allowed}",
                headers=(("Allow", allowed),),
            )
        try:
            return action()
        except Invalid as exc:
            return _error(400, str(exc))

    def _injected(
        self, request: Request, kinds: tuple[str, ...], applies: Callable[[str], bool] = bool
    ) -> Injection | None:
        """Consume the first injection of ``kinds`` aimed at ``request``'s phase (and
        for which ``applies(kind)``: one that would change nothing is kept for later)."""
        phase = _phase(request)
        with self._lock:
            for injection in self._config.faults.injections:
                if injection.count <= 0 or injection.kind not in kinds or not applies(injection.kind):
                    continue
                if injection.phase not in ("any", phase):
                    continue
                if injection.match is not None and injection.match.encode() not in (request.body or b""):
                    continue
                injection.count -= 1
                return injection
        return None

    def _before(self, injection: Injection, request: Request) -> Reply | None:
        """The answer of a fault that strikes before the request is acted on (None: go on)."""
        kind = injection.kind
        time.sleep(injection.delay)
        if kind == "hang":
            time.sleep(self._config.faults.hang_seconds)
            return None
        if kind == "drop":
            return _DROP
        if kind == "429":
            return self._rate_limited(self._config.faults.retry_after)
        if kind == "500":
            return _HOSTILE_500
        if kind == "502":
            return _BAD_GATEWAY
        # echo_key: a careless server repeats the credential it was sent.
        return _error(401, f"invalid API key: {request.authorization!s}")

    def _take_fault(self, name: str) -> bool:
        """Consume one unit of the counter fault ``name``; True when it fired."""
        with self._lock:
            return self._take_fault_locked(name)

    def _take_fault_locked(self, name: str) -> bool:
        faults = self._config.faults
        left: int = getattr(faults, name)
        if left <= 0:
            return False
        setattr(faults, name, left - 1)
        return True

    def _admit(self, key: str) -> int | None:
        """Count a request against ``key``'s sliding window; or the seconds to wait."""
        now = self._clock()
        window = self._config.window
        with self._lock:
            stamps = self._windows.setdefault(key, deque())
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= self._config.rpm:
                return max(1, math.ceil(stamps[0] + window - now))
            stamps.append(now)
            return None

    def _rate_limited(self, wait: int) -> Reply:
        window = self._config.window
        per = "minute" if window == 60 else f"{window:g} seconds"
        return _error(
            429,
            f"rate limit exceeded: {self._config.rpm} requests per {per}",
            headers=(("Retry-After", str(wait)),),
        )

    def _credits(self) -> Reply:
        with self._lock:
            remaining = self._config.credits - self._charged
        return _ok(
            {
                "remaining_credits": remaining,
                "team_plan": self._config.plan,
                "rate_limit_rpm": self._config.rpm,
            }
        )

    def _generate(self, key: str, body: bytes | None) -> Reply:
        reply = self._generate_answer(key, body)
        if reply.status != 200:
            return reply
        after = self._injected(Request("POST", API_PREFIX + "/generate", "", None, body), AFTER_CREATE)
        if after is None:
            return reply
        if after.kind == "delay_after_create":
            time.sleep(self._config.faults.hang_seconds)
            return reply
        return {"drop_after_create": _DROP, "html_2xx": _HTML_200, "no_task_id": _NO_TASK_ID}[after.kind]

    def _generate_answer(self, key: str, body: bytes | None) -> Reply:
        params = parse_generate(body)
        cost = CREDIT_COST[params.resolution]
        with self._lock:
            if self._take_fault_locked("generate_errors"):
                return _INJECTED_500
            remaining = self._config.credits - self._charged
            if cost > remaining:
                return _error(402, f"insufficient credits: {cost} required, {remaining} remaining")
            task = self._create_locked(key, params, cost)
            if self._take_fault_locked("drop_after_create"):
                return _DROP
        return _ok(
            {
                "task_id": task.task_id,
                "type": params.type,
                "model": params.model,
                "credits_used": cost,
                "status": "pending",
            }
        )

    def _create_locked(self, key: str, params: Generate, cost: int) -> EmulatedTask:
        # Drawn for every task, so a seed gives the same outcomes in the same order.
        unlucky = self._rng.random() < self._config.fail_rate
        # Drawn only with jitter: a seed's outcomes stay those it had.
        spread = self._config.jitter * (2 * self._rng.random() - 1) if self._config.jitter else 0.0
        injected = any(part in params.prompt for part in self._config.faults.fail_prompts)
        failure = None
        if injected:
            failure = "generation failed: the prompt matched an injected failure"
        elif unlucky:
            failure = "generation failed: upstream model error (simulated)"
        # uuid4, not the seeded RNG: ids must never repeat across emulator runs, or a
        # client resuming a task recorded by an earlier run could collect another's image.
        task = EmulatedTask(
            task_id=f"task-{uuid.uuid4().hex[:12]}",
            owner=key,
            params=params,
            credits_used=cost,
            created=self._clock(),
            created_wall=time.time(),
            latency=max(0.0, self._config.latency * (1 + spread)),
            failure=failure,
        )
        self._tasks[task.task_id] = task
        self._charged += cost
        if task.latency > 0 and failure is None:  # drawn while it runs, not when downloaded
            self._to_make.put(task)
            if self._maker is None:
                self._maker = threading.Thread(target=self._make, name="emulator-images", daemon=True)
                self._maker.start()
        return task

    def _make(self) -> None:
        """Draw each task's image halfway through its latency, one at a time."""
        while True:
            task = self._to_make.get()
            time.sleep(max(0.0, task.created + task.latency / 2 - self._clock()))
            fmt = self._config.faults.serve_format
            with self._lock:
                if self._made_bytes > MADE_BYTES or fmt not in CONTENT_TYPES:
                    continue
            data = self._draw(task, fmt)
            with self._lock:
                self._made[(task.task_id, fmt)] = data
                self._made_bytes += len(data)

    def _get_task(self, key: str, task_id: str, origin: str) -> Reply:
        if self._take_fault("read_errors"):
            return _INJECTED_500
        now = self._clock()
        file_base = origin + FILES_PREFIX
        with self._lock:
            task = self._tasks.get(task_id)
            # Another key's task is reported as absent, not as forbidden.
            if task is None or task.owner != key:
                return _error(404, f"task not found: {task_id[:100]}")
            view = task.view(now, file_base, self._config.faults)
        return self._in_views("poll", [view], lambda views: _ok(views[0]))

    def _list_tasks(self, key: str, query: str, origin: str) -> Reply:
        wanted = parse_list_query(query)
        if self._take_fault("read_errors"):
            return _INJECTED_500
        now = self._clock()
        file_base = origin + FILES_PREFIX
        with self._lock:
            faults = self._config.faults
            views = [
                task.view(now, file_base, faults)
                for task in reversed(self._tasks.values())
                if task.owner == key
            ]
        views = [
            view
            for view in views
            if wanted.type in (None, view["type"]) and wanted.status in (None, view["status"])
        ]
        start = (wanted.page - 1) * wanted.limit
        pagination = {"page": wanted.page, "limit": wanted.limit, "total": len(views)}
        return self._in_views(
            "list",
            views[start : start + wanted.limit],
            lambda page: _ok({"tasks": page, "pagination": pagination}),
        )

    def _in_views(
        self, phase: str, views: list[dict[str, Any]], answer: Callable[[list[dict[str, Any]]], Reply]
    ) -> Reply:
        """``answer(views)``, through the view faults aimed at ``phase``."""
        path = API_PREFIX + ("/tasks" if phase == "list" else "/task/")
        done = any(view["status"] == "success" for view in views)
        injection = self._injected(
            Request("GET", path, "", None, None),
            IN_VIEWS,
            lambda kind: done or kind not in ("no_url", "hostile_url"),
        )
        if injection is None:
            return answer(views)
        if injection.kind == "html_2xx":
            return _HTML_200
        if injection.kind == "no_task_id":
            return _ok({"status": "success"} if phase == "poll" else {"pagination": {}})
        for view in views:
            if injection.kind == "unknown_status":
                view["status"] = injection.value or "cancelled"
            elif view["status"] == "success" and injection.kind == "no_url":
                view.pop("output_urls", None)
            elif view["status"] == "success":  # hostile_url
                view["output_urls"] = [injection.value or HOSTILE_URLS[0]]
        return answer(views)

    def _download(self, request: Request) -> Reply:
        before = self._injected(request, tuple(kind for kind in BEFORE if kind != "echo_key"))
        if before is not None:
            reply = self._before(before, request)
            if reply is not None:
                return reply
        match = _FILE_PATH.fullmatch(request.path)
        task_id = unquote(match[1]) if match else ""
        now = self._clock()
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status(now) != "success":
                return _error(404, f"no image at {request.path}")
            if request.method != "GET":
                return _error(405, f"{request.method} is not allowed on images; use GET")
            fmt = self._config.faults.serve_format
            truncate = self._take_fault_locked("truncate_downloads")
            made = self._made.pop((task_id, fmt), None)
            if made is not None:
                self._made_bytes -= len(made)
                self._images[(task_id, fmt)] = made
            data = self._images.get((task_id, fmt))
        injection = self._injected(request, IN_DOWNLOADS)
        kind = injection.kind if injection is not None else None
        if kind == "wrong_format":
            return Reply(200, b"<html><body>Not an image</body></html>", content_type="image/png")
        if data is None:
            data = self._draw(task, fmt)
            with self._lock:
                self._images[(task_id, fmt)] = data
                while len(self._images) > IMAGE_CACHE_SIZE:
                    self._images.popitem(last=False)
        return Reply(
            200,
            data,
            content_type=CONTENT_TYPES[fmt],
            truncate=truncate or kind == "truncate",
            trickle=self._config.faults.trickle_delay if kind == "trickle" else 0.0,
            endless=kind == "endless",
        )

    def _draw(self, task: EmulatedTask, fmt: str) -> bytes:
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"serve_format must be one of {', '.join(CONTENT_TYPES)}; got {fmt!r}")
        width, height = images.pixel_size(task.params.resolution, task.params.aspect_ratio)
        scale = self._config.image_scale
        return placeholder.draw(
            max(1, round(width * scale)),
            max(1, round(height * scale)),
            title=task.task_id,
            text=placeholder.first_words(task.params.prompt),
            banner="Paper Banana emulator",
            fmt=fmt,
        )
