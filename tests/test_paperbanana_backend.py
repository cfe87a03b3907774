"""The Paper Banana API as a Backend (backends/paperbanana/backend.py), against the
emulator over loopback: submit, reconcile, shared polling, download."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator

import pytest

from figbuild.backends.base import FigureFailed, Job, TaskNotFound, Ticket
from figbuild.backends.paperbanana.backend import ApiBackend, created_at, matches
from figbuild.backends.paperbanana.client import Client, Task
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator
from figbuild.images import sniff_format
from figbuild.request import Request

from .conftest import EmulatorFactory

FAST_POLL = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.1))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def job(prompt: str = "A small diagram", figure_id: str = "fig") -> Job:
    request = Request("standard", prompt, "nano-banana-pro", "1K", "1:1")
    parts = {"type": "standard", "model": "nano-banana-pro", "resolution": "1K", "prompt": sha(prompt)}
    return Job(figure_id, request, "PNG", parts)


def task(**changes: object) -> Task:
    fields: dict[str, object] = {
        "task_id": "t1",
        "type": "standard",
        "status": "success",
        "prompt": "A small diagram",
        "model": "nano-banana-pro",
        "resolution": "1K",
        "credits_used": 10,
        "output_urls": (),
        "created_at": "2026-04-15T10:00:00Z",
        "completed_at": None,
        "error": None,
    }
    fields.update(changes)
    return Task(**fields)  # type: ignore[arg-type]


@pytest.fixture
def server(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.1)


@pytest.fixture
def backend(server: Emulator) -> Iterator[ApiBackend]:
    with Client(Settings(base_url=server.base_url, key="sk-backend")) as client:
        yield ApiBackend(client, FAST_POLL)


# -- pure helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"resolution": None}, True),  # not every listing says; the rest must match
        ({"resolution": "2K"}, False),
        ({"prompt": "Another diagram"}, False),
        ({"model": "nano-banana"}, False),
        ({"type": "pipeline"}, False),
    ],
)
def test_matches_compares_type_model_prompt_and_resolution(
    changes: dict[str, object], expected: bool
) -> None:
    assert matches(task(**changes), job().parts) is expected


def test_created_at_reads_the_servers_time_or_none() -> None:
    assert created_at(task(created_at="1970-01-01T00:01:00Z")) == 60.0
    assert created_at(task(created_at=None)) is None
    assert created_at(task(created_at="yesterday")) is None


# -- against the emulator ---------------------------------------------------------


def test_submit_wait_fetch(backend: ApiBackend, server: Emulator) -> None:
    assert (backend.provisional, backend.paid, backend.balance()) == (False, True, 75_000)
    ticket = backend.submit(job())
    assert ticket.task_id is not None
    assert ticket.credits == 10
    url = backend.wait(ticket)
    assert url.endswith(f"/files/{ticket.task_id}.png")
    out = io.BytesIO()
    backend.fetch(ticket, url, out)
    assert sniff_format(out.getvalue()) == "PNG"
    assert server.credits_charged == 10


def test_a_dropped_submission_is_found_not_paid_twice(backend: ApiBackend, server: Emulator) -> None:
    server.config.faults.drop_after_create = 1
    ticket = backend.submit(job())
    [created] = server.tasks()
    assert ticket.task_id == created["task_id"]
    assert server.count("POST", "/api/v1/generate") == 1
    assert server.credits_charged == 10


def test_find_never_takes_a_known_task(backend: ApiBackend, server: Emulator) -> None:
    first = backend.submit(job())
    assert backend.find(job(), 0.0) is None, "the submitted task is claimed"
    other = ApiBackend(backend.client, FAST_POLL)
    other.known([first.task_id or ""])
    assert other.find(job(), 0.0) is None
    fresh = ApiBackend(backend.client, FAST_POLL)
    found = fresh.find(job(), 0.0)
    assert found is not None
    assert found.task_id == first.task_id


def test_a_failed_task_fails_its_figure(backend: ApiBackend, server: Emulator) -> None:
    server.config.faults.fail_prompts = ("FAIL",)
    ticket = backend.submit(job("please FAIL"))
    with pytest.raises(FigureFailed, match="failed: generation failed"):
        backend.wait(ticket)


def test_an_unknown_task_is_reported_as_such(backend: ApiBackend) -> None:
    ticket = Ticket(job(), "task-gone", 10, "2026-04-15T10:00:00Z")
    with pytest.raises(TaskNotFound, match="task-gone"):
        backend.wait(ticket)


def test_several_waiters_share_list_polls(backend: ApiBackend, server: Emulator) -> None:
    tickets = [backend.submit(job(f"diagram {i}", f"f{i}")) for i in range(6)]
    urls: list[str] = []
    threads = [threading.Thread(target=lambda t=t: urls.append(backend.wait(t))) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(urls) == 6
    assert server.count("GET", "/api/v1/tasks") >= 1
    assert server.count("GET", "/api/v1/task/") < 6, "not one poll per task per round"


def test_the_client_is_made_on_first_use_only() -> None:
    made: list[str] = []

    def factory() -> Client:
        made.append("client")
        raise RuntimeError("no key")

    backend = ApiBackend(factory)
    backend.known(["t1"])
    assert made == []
    with pytest.raises(RuntimeError, match="no key"):
        backend.balance()
    assert made == ["client"]
