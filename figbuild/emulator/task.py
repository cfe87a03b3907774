"""One emulated task: its life cycle (pending, processing, then success or failed) and
the view of it that ``GET /task/:id`` and ``GET /tasks`` answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from figbuild.emulator.checks import Generate
from figbuild.emulator.faults import Faults

#: Share of a task's latency spent "pending" before it turns "processing".
PENDING_SHARE = 0.2


def _iso(timestamp: float) -> str:
    # Whole seconds, as in the reference's examples.
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EmulatedTask:
    task_id: str
    owner: str
    params: Generate
    credits_used: int
    created: float  # the service clock, drives the status
    created_wall: float  # time.time(), for created_at / completed_at
    latency: float  # fixed at creation, so a task's status never goes backwards
    failure: str | None  # the error it ends with, or None when it succeeds

    def status(self, now: float, stuck: bool = False) -> str:
        if stuck:
            return "processing"
        elapsed = now - self.created
        if elapsed >= self.latency:
            return "failed" if self.failure else "success"
        return "pending" if elapsed < self.latency * PENDING_SHARE else "processing"

    def view(self, now: float, file_base: str, faults: Faults | None = None) -> dict[str, Any]:
        """The task as GET /task/:id answers it (through the clock and stuck faults)."""
        skew = faults.clock_skew if faults is not None else 0.0
        status = self.status(now, faults is not None and faults.stuck)
        done = status in ("success", "failed")
        view: dict[str, Any] = {
            "task_id": self.task_id,
            "type": self.params.type,
            "status": status,
            "prompt": self.params.prompt,
            "model": self.params.model,
            "resolution": self.params.resolution,
            "aspect_ratio": self.params.aspect_ratio,
            "credits_used": self.credits_used,
            "created_at": _iso(self.created_wall + skew),
            "completed_at": _iso(self.created_wall + self.latency + skew) if done else None,
        }
        if status == "success":
            view["output_urls"] = [f"{file_base}{self.task_id}.png"]
        elif status == "failed":
            view["error"] = self.failure
        return view
