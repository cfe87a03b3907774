"""The faults the emulator can inject: what a careful client must survive, aimed at
one phase of a sync or counted per request. Tests change these while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The phases of a sync as the emulator sees them: which request a fault hits.
PHASES = ("submit", "list", "poll", "download", "credits")

#: What an :class:`Injection` can do, by when it acts. Before the request is acted on:
BEFORE = ("drop", "429", "500", "502", "echo_key", "hang")
#: After POST /generate created (and charged) the task:
AFTER_CREATE = ("drop_after_create", "html_2xx", "no_task_id", "delay_after_create")
#: To the task views a GET /task/:id or GET /tasks answers (unreadable answers too):
IN_VIEWS = ("unknown_status", "no_url", "hostile_url", "html_2xx", "no_task_id")
#: To an image download:
IN_DOWNLOADS = ("truncate", "trickle", "endless", "wrong_format")
KINDS = tuple(dict.fromkeys(BEFORE + AFTER_CREATE + IN_VIEWS + IN_DOWNLOADS))

#: Image URLs no client may follow: another scheme, plain http off this machine, a path.
HOSTILE_URLS = ("file:///etc/passwd", "http://images.example.org/x.png", "../../outside.png")


@dataclass
class Injection:
    """One fault aimed at one phase: the next ``count`` requests of ``phase`` ("any":
    every phase) whose body contains ``match`` (when given) get ``kind``, after
    ``delay`` seconds. ``value`` is the kind's parameter (the URL of ``hostile_url``,
    the state of ``unknown_status``)."""

    kind: str
    phase: str = "any"
    count: int = 1
    match: str | None = None
    value: str | None = None
    #: Seconds to hold the request before the fault acts.
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.phase not in (*PHASES, "any"):
            raise ValueError(f"unknown phase {self.phase!r}; one of {', '.join(PHASES)}, any")


@dataclass
class Faults:
    """Failures to inject; tests change these while the emulator runs.

    Each counter is consumed by the requests it affects, one per request.
    ``injections`` aim any fault of :data:`KINDS` at one phase of a sync.
    """

    #: A task whose prompt contains one of these ends "failed".
    fail_prompts: tuple[str, ...] = ()
    #: POST /generate creates and charges the task, then hangs up without answering.
    drop_after_create: int = 0
    #: GET /task/:id and GET /tasks answer 500 JSON.
    read_errors: int = 0
    #: POST /generate answers 500 JSON without creating a task.
    generate_errors: int = 0
    #: Any API request answers 502 with an HTML page (before auth and rate limit).
    bad_gateway: int = 0
    #: API requests answer 429 with Retry-After: 1 (after auth; not counted).
    rate_limit_storm: int = 0
    #: Image downloads send the full Content-Length but half the bytes, then close.
    truncate_downloads: int = 0
    #: "PNG", "JPEG" or "PDF"; the URL still ends in .png, so clients must sniff.
    serve_format: str = "PNG"
    #: Phase-aimed faults, consumed in order.
    injections: list[Injection] = field(default_factory=list)
    #: While True, no task finishes: every one reports "processing".
    stuck: bool = False
    #: Seconds the server's clock is off (negative: behind), in created_at and the Date header.
    clock_skew: float = 0.0
    #: Seconds the Date header is off, when not ``clock_skew`` (a proxy in front of the
    #: API that stamps its own Date on every answer).
    date_skew: float | None = None
    #: Seconds a "hang" or "delay_after_create" holds its request.
    hang_seconds: float = 30.0
    #: Seconds between the 1 KiB pieces of a "trickle" download.
    trickle_delay: float = 0.005
    #: Retry-After of an injected "429".
    retry_after: int = 1

    def inject(self, kind: str, phase: str = "any", count: int = 1, **extra: Any) -> Faults:
        """Add an :class:`Injection`; returns self, so calls chain."""
        self.injections.append(Injection(kind, phase, count, **extra))
        return self
