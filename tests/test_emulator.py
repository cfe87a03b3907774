"""The emulator: the service answered directly (no sockets, a fake clock), every answer
checked against the OpenAPI schemas; then the few things only real loopback HTTP shows."""

from __future__ import annotations

import _thread
import http.client
import io
import json
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from figbuild import images
from figbuild.emulator import Emulator, EmulatorConfig, Faults, Reply, Request, Service, serve

from .conftest import EmulatorFactory

OPENAPI = Path(__file__).resolve().parents[1] / "schemas" / "paperbanana.openapi.yaml"
OPENAPI_URI = "urn:figbuild:paperbanana-openapi"
KEY = "sk-test-key"
OTHER_KEY = "sk-other-key"
ORIGIN = "http://127.0.0.1:8123"  # what the HTTP layer would pass as the reached origin
TIMEOUT = 5  # every real HTTP call is bounded

ServiceFactory = Callable[..., Service]


# -- schema checking ----------------------------------------------------------


@cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return document


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<name>``, its $refs resolved in the document."""
    resource = Resource.from_contents(openapi(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(OPENAPI_URI, resource)
    return Draft202012Validator({"$ref": f"{OPENAPI_URI}#/components/schemas/{name}"}, registry=registry)


def schema_errors(name: str, instance: object) -> list[str]:
    return sorted(error.message for error in validator(name).iter_errors(instance))


def checked(reply: Reply, schema: str) -> dict[str, Any]:
    """The JSON body of ``reply``, after checking it against component ``schema``."""
    assert reply.content_type == "application/json"
    body: dict[str, Any] = json.loads(reply.body)
    assert schema_errors(schema, body) == [], body
    return body


def ok(reply: Reply, schema: str) -> Any:
    assert reply.status == 200, reply.body
    return checked(reply, schema)["data"]


def refused(reply: Reply, status: int) -> str:
    """The error text of a refusal with ``status``, checked against the Error schema."""
    assert reply.status == status, reply.body
    error: str = checked(reply, "Error")["error"]
    return error


def header(reply: Reply, name: str) -> str:
    return dict(reply.headers)[name]


# -- talking to the service ---------------------------------------------------


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def api(
    service: Service,
    method: str,
    path: str,
    *,
    key: str | None = KEY,
    json_body: object = None,
    data: bytes | None = b"",
    params: dict[str, Any] | None = None,
    authorization: str | None = None,
) -> Reply:
    """Answer one API request: ``path`` under /api/v1, the key as a bearer token,
    ``json_body`` sent as JSON (else ``data`` as is; None: a body the HTTP layer could not read)."""
    if authorization is None and key is not None:
        authorization = f"Bearer {key}"
    body = json.dumps(json_body).encode() if json_body is not None else data
    request = Request(method, "/api/v1" + path, urlencode(params or {}), authorization, body, ORIGIN)
    return service.handle(request)


def fetch(service: Service, path: str, method: str = "GET") -> Reply:
    """A request outside the API (an image URL's path), as a browser sends it: no key."""
    return service.handle(Request(method, path, "", None, b"", ORIGIN))


def generate(service: Service, key: str = KEY, **fields: Any) -> dict[str, Any]:
    """Start a valid task (fields override the defaults); the checked POST /generate data."""
    body = {"type": "standard", "prompt": "A neural network diagram", **fields}
    data: dict[str, Any] = ok(api(service, "POST", "/generate", key=key, json_body=body), "GenerateResponse")
    return data


def get_task(service: Service, task_id: str, key: str = KEY) -> dict[str, Any]:
    task: dict[str, Any] = ok(api(service, "GET", f"/task/{task_id}", key=key), "TaskResponse")
    return task


def image_path(url: str) -> str:
    assert url.startswith(ORIGIN + "/files/")
    return url[len(ORIGIN) :]


def download(service: Service, url: str) -> Reply:
    reply = fetch(service, image_path(url))
    assert reply.status == 200, reply.body
    return reply


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_service(clock: Clock) -> ServiceFactory:
    """Services with config overrides (small images by default), all on the fake clock."""

    def make(**settings: Any) -> Service:
        settings.setdefault("image_scale", 0.1)
        return Service(EmulatorConfig(**settings), clock=clock)

    return make


@pytest.fixture
def service(make_service: ServiceFactory) -> Iterator[Service]:
    service = make_service()
    yield service
    # No fault is injected here, so no request may have hit the 500 path.
    assert [r for r in service.records() if r.status >= 500] == []


# -- the schema document itself ----------------------------------------------


def test_openapi_document_declares_the_component_schemas() -> None:
    document = openapi()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/credits", "/generate", "/task/{taskId}", "/tasks"}
    schemas = document["components"]["schemas"]
    for name in ("Credits", "GenerateRequest", "GenerateAccepted", "Task", "TaskList", "Error"):
        Draft202012Validator.check_schema(schemas[name])
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    rate_limited = document["components"]["responses"]["RateLimited"]
    assert "Retry-After" in rate_limited["headers"]


def test_schema_checks_resolve_refs_and_reject_wrong_bodies() -> None:
    task = {
        "task_id": "t",
        "type": "standard",
        "status": "success",
        "prompt": "p",
        "model": "nano-banana-pro",
        "resolution": "1K",
        "credits_used": 10,
        "created_at": "2026-04-15T10:00:00Z",
        "completed_at": "2026-04-15T10:00:45Z",
        "output_urls": ["https://image.paperbanana.run/result.png"],
        "extra": "tolerated",
    }
    assert schema_errors("TaskResponse", {"success": True, "data": task}) == []
    assert schema_errors("Task", {**task, "output_urls": None}) != []
    del task["output_urls"]
    assert schema_errors("Task", task) != []  # a success must name its image
    assert schema_errors("Task", {**task, "status": "failed", "error": "x"}) == []
    assert schema_errors("Task", {**task, "status": "done"}) != []
    assert schema_errors("Error", {"success": False}) != []
    assert schema_errors("CreditsResponse", {"success": True, "data": {}}) != []
    assert schema_errors("TaskList", {"tasks": [{}], "pagination": {"page": 1}}) != []


# -- happy paths --------------------------------------------------------------


def test_credits_report_balance_plan_and_rate_limit(service: Service) -> None:
    data = ok(api(service, "GET", "/credits"), "CreditsResponse")
    assert data == {"remaining_credits": 75_000, "team_plan": "team-basic", "rate_limit_rpm": 120}


@pytest.mark.parametrize(("resolution", "cost"), [("1K", 10), ("2K", 15), ("4K", 25)])
def test_generate_charges_the_documented_cost(service: Service, resolution: str, cost: int) -> None:
    data = generate(service, type="pipeline", model="nano-banana-2", options={"resolution": resolution})
    assert data["status"] == "pending"
    assert data["credits_used"] == cost
    assert (data["type"], data["model"]) == ("pipeline", "nano-banana-2")
    assert data["task_id"].startswith("task-")
    assert service.credits_charged == cost
    credits = ok(api(service, "GET", "/credits"), "CreditsResponse")
    assert credits["remaining_credits"] == 75_000 - cost == service.remaining_credits


def test_generate_fills_in_the_documented_defaults(service: Service) -> None:
    task = get_task(service, generate(service)["task_id"])
    assert (task["model"], task["resolution"], task["aspect_ratio"]) == (
        "nano-banana-pro",
        "1K",
        "1:1",
    )


def test_generate_accepts_every_limit_exactly(service: Service) -> None:
    body: dict[str, Any] = {
        "type": "pipeline",
        "prompt": "p" * 10_000,
        "options": {
            "resolution": "2K",
            "aspect_ratio": "21:9",
            "image_input": [f"https://example.org/{i}.png" for i in range(10)],
            "content": "c" * 100_000,
        },
    }
    assert schema_errors("GenerateRequest", body) == []
    generate(service, **body)


def test_a_finished_task_has_its_result(service: Service) -> None:
    created = generate(service, prompt="A red apple", options={"resolution": "2K", "aspect_ratio": "16:9"})
    task = get_task(service, created["task_id"])
    assert task["status"] == "success"
    assert task["prompt"] == "A red apple"
    assert task["output_urls"] == [f"{ORIGIN}/files/{created['task_id']}.png"]
    assert task["completed_at"] is not None
    assert task["created_at"].endswith("Z")
    assert "error" not in task
    assert service.tasks(ORIGIN) == [task]


def test_tasks_move_pending_processing_success_with_latency(
    make_service: ServiceFactory, clock: Clock
) -> None:
    service = make_service(latency=0.3)
    task_id = generate(service)["task_id"]
    seen: list[str] = []
    for _ in range(40):
        task = get_task(service, task_id)
        if not seen or seen[-1] != task["status"]:
            seen.append(task["status"])
        if task["status"] == "success":
            break
        assert task["completed_at"] is None
        assert "output_urls" not in task
        clock.advance(0.01)
    assert seen == ["pending", "processing", "success"]


def test_list_is_newest_first_paged_and_filtered(service: Service) -> None:
    ids = [generate(service, type=kind)["task_id"] for kind in ("standard", "pipeline", "standard")]
    generate(service, key=OTHER_KEY)  # another key's task is never listed

    data = ok(api(service, "GET", "/tasks"), "TaskListResponse")
    assert [t["task_id"] for t in data["tasks"]] == ids[::-1]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 3}

    page = ok(api(service, "GET", "/tasks", params={"page": 2, "limit": 2}), "TaskListResponse")
    assert [t["task_id"] for t in page["tasks"]] == [ids[0]]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3}

    pipeline = ok(api(service, "GET", "/tasks", params={"type": "pipeline"}), "TaskListResponse")
    assert [t["task_id"] for t in pipeline["tasks"]] == [ids[1]]
    failed = ok(api(service, "GET", "/tasks", params={"status": "failed"}), "TaskListResponse")
    assert failed["tasks"] == []
    everything = {"type": "all", "status": "success", "limit": 100}
    assert (
        ok(api(service, "GET", "/tasks", params=everything), "TaskListResponse")["pagination"]["total"] == 3
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"type": "fancy"}, "type"),
        ({"status": "done"}, "status"),
    ],
)
def test_list_rejects_bad_parameters(service: Service, query: dict[str, Any], field: str) -> None:
    error = refused(api(service, "GET", "/tasks", params=query), 400)
    assert error.startswith(field)


def test_a_task_belongs_to_its_key(service: Service) -> None:
    task_id = generate(service)["task_id"]
    assert refused(api(service, "GET", f"/task/{task_id}", key=OTHER_KEY), 404) == (
        f"task not found: {task_id}"
    )
    assert ok(api(service, "GET", "/tasks", key=OTHER_KEY), "TaskListResponse")["tasks"] == []


def test_unknown_task_is_404(service: Service) -> None:
    assert refused(api(service, "GET", "/task/task-nope"), 404) == "task not found: task-nope"


def test_requests_are_recorded_and_counted(service: Service, clock: Clock) -> None:
    generate(service)
    clock.advance(1)
    api(service, "GET", "/tasks", params={"page": 1})
    clock.advance(1)
    api(service, "GET", "/credits", key=None)
    records = service.records()
    assert [(r.method, r.path, r.query, r.status, r.key) for r in records] == [
        ("POST", "/api/v1/generate", "", 200, KEY),
        ("GET", "/api/v1/tasks", "page=1", 200, KEY),
        ("GET", "/api/v1/credits", "", 401, None),
    ]
    assert [r.time for r in records] == [1000.0, 1001.0, 1002.0]
    assert service.count("POST", "/api/v1/generate") == 1
    assert service.count("GET", "/api/v1/") == 2


def test_concurrent_generates_all_land(service: Service) -> None:
    results: list[str] = []

    def submit() -> None:
        results.append(generate(service)["task_id"])

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(set(results)) == 16
    assert service.credits_charged == 160


# -- bad input: always the documented 4xx, never a 500 -------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "standard", "prompt": "x", "model": "nano-banana-3"}, "model"),
        (
            {"type": "standard", "prompt": "x", "options": {"resolution": "4k"}},
            "options.resolution",
        ),
        (
            {"type": "standard", "prompt": "x", "options": {"resolution": "3K"}},
            "options.resolution",
        ),
        (
            {"type": "standard", "prompt": "x", "options": {"aspect_ratio": "2:1"}},
            "options.aspect_ratio",
        ),
        ({"type": "standard", "prompt": "x" * 10_001}, "prompt"),
        ({"type": "standard", "prompt": "   "}, "prompt"),
        ({"type": "standard", "prompt": 42}, "prompt"),
        ({"type": "standard"}, "prompt"),
        ({"prompt": "x"}, "type"),
        ({"type": "fancy", "prompt": "x"}, "type"),
        (
            {
                "type": "standard",
                "prompt": "x",
                "options": {"image_input": [f"https://e.org/{i}" for i in range(11)]},
            },
            "options.image_input",
        ),
        (
            {"type": "standard", "prompt": "x", "options": {"image_input": ["http://e.org/a.png"]}},
            "options.image_input[0]",
        ),
        (
            {"type": "standard", "prompt": "x", "options": {"image_input": "https://e.org/a"}},
            "options.image_input",
        ),
        (
            {"type": "pipeline", "prompt": "x", "options": {"content": "c" * 100_001}},
            "options.content",
        ),
        ({"type": "standard", "prompt": "x", "options": "2K"}, "options"),
        ({"type": "standard", "prompt": "x", "seed": 1}, "unknown field"),
        ({"type": "standard", "prompt": "x", "options": {"style": "x"}}, "unknown field"),
    ],
)
def test_generate_rejects_what_the_schema_rejects(service: Service, body: dict[str, Any], field: str) -> None:
    assert schema_errors("GenerateRequest", body) != []
    error = refused(api(service, "POST", "/generate", json_body=body), 400)
    assert error.startswith(field)
    assert service.credits_charged == 0
    assert service.tasks() == []


def test_enum_errors_name_the_allowed_values(service: Service) -> None:
    body = {"type": "standard", "prompt": "x", "options": {"resolution": "4k"}}
    error = refused(api(service, "POST", "/generate", json_body=body), 400)
    assert error == 'options.resolution must be one of "1K", "2K", "4K"; got "4k"'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"type": "standard", "prompt": ', "request body is not valid JSON"),
        (b"\xff\xfe not utf-8", "request body is not valid JSON"),
        (b"", "request body is not valid JSON"),
        (b"[" * 100_000, "request body is not valid JSON"),
        (b'["standard", "x"]', "request body must be a JSON object"),
        (None, "request body must be JSON"),  # unreadable: chunked, or too large
    ],
)
def test_generate_rejects_a_body_that_is_not_a_json_object(
    service: Service, data: bytes | None, message: str
) -> None:
    assert refused(api(service, "POST", "/generate", data=data), 400).startswith(message)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/credits"), ("POST", "/generate"), ("GET", "/task/task-x"), ("GET", "/tasks")],
)
def test_every_endpoint_requires_a_key(service: Service, method: str, path: str) -> None:
    missing = refused(api(service, method, path, key=None), 401)
    assert missing == "missing API key: send Authorization: Bearer sk-..."
    wrong_scheme = api(service, method, path, key=None, authorization="Basic c2stYQ==")
    assert refused(wrong_scheme, 401) == missing
    assert refused(api(service, method, path, key="pk-secret-value"), 401) == "invalid API key"


def test_insufficient_credits_is_402_and_charges_nothing(make_service: ServiceFactory) -> None:
    service = make_service(credits=30)
    generate(service)
    generate(service)
    body = {"type": "standard", "prompt": "x", "options": {"resolution": "2K"}}
    error = refused(api(service, "POST", "/generate", json_body=body), 402)
    assert error == "insufficient credits: 15 required, 10 remaining"
    assert service.credits_charged == 20
    assert len(service.tasks()) == 2
    generate(service)  # a 1K still fits


def test_unknown_paths_and_methods(service: Service) -> None:
    assert refused(api(service, "GET", "/nothing"), 404).startswith("no such endpoint")
    assert refused(fetch(service, "/other/credits"), 404).startswith("not found")
    wrong = api(service, "GET", "/generate")
    assert refused(wrong, 405) == "GET is not allowed on /api/v1/generate; use POST"
    assert header(wrong, "Allow") == "POST"
    refused(api(service, "DELETE", "/task/task-x"), 405)
    refused(api(service, "PUT", "/credits"), 405)
    refused(api(service, "OPTIONS", "/tasks"), 405)


# -- rate limit ---------------------------------------------------------------


def test_sliding_window_rate_limit(make_service: ServiceFactory, clock: Clock) -> None:
    service = make_service(rpm=2, window=0.5)
    for _ in range(2):
        ok(api(service, "GET", "/credits"), "CreditsResponse")
    clock.advance(0.25)
    for _ in range(2):
        limited = api(service, "GET", "/credits")
        assert refused(limited, 429) == "rate limit exceeded: 2 requests per 0.5 seconds"
        assert header(limited, "Retry-After") == "1"
    ok(api(service, "GET", "/credits", key=OTHER_KEY), "CreditsResponse")  # the limit is per key
    # Once the first two leave the window there is room for two more: the 429s did not count.
    clock.advance(0.3)
    for _ in range(2):
        ok(api(service, "GET", "/credits"), "CreditsResponse")
    refused(api(service, "GET", "/credits"), 429)


def test_refused_requests_count_against_the_limit(make_service: ServiceFactory) -> None:
    service = make_service(rpm=2)
    refused(api(service, "POST", "/generate", json_body={"type": "standard"}), 400)
    refused(api(service, "GET", "/task/task-nope"), 404)
    refused(api(service, "GET", "/credits"), 429)


def test_image_downloads_are_not_rate_limited(make_service: ServiceFactory, clock: Clock) -> None:
    service = make_service(rpm=2, window=60)
    url = get_task(service, generate(service)["task_id"])["output_urls"][0]
    for _ in range(3):
        download(service, url)
    refused(api(service, "GET", "/credits"), 429)
    clock.advance(20)
    assert header(api(service, "GET", "/credits"), "Retry-After") == "40"  # until the oldest leaves


def test_rate_limit_message_says_per_minute_by_default(make_service: ServiceFactory) -> None:
    service = make_service(rpm=1)
    api(service, "GET", "/credits")
    assert refused(api(service, "GET", "/credits"), 429) == ("rate limit exceeded: 1 requests per minute")


# -- images -------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "ratio"), [("1K", "16:9"), ("2K", "3:4")])
def test_output_url_serves_a_png_of_the_documented_size(
    make_service: ServiceFactory, resolution: str, ratio: str
) -> None:
    service = make_service(image_scale=1.0)
    created = generate(service, options={"resolution": resolution, "aspect_ratio": ratio})
    reply = download(service, get_task(service, created["task_id"])["output_urls"][0])
    assert reply.content_type == "image/png"
    assert not reply.truncate
    with Image.open(io.BytesIO(reply.body)) as image:
        assert image.format == "PNG"
        assert image.size == images.pixel_size(resolution, ratio)


def test_image_scale_shrinks_the_image(make_service: ServiceFactory) -> None:
    service = make_service(image_scale=0.25)
    created = generate(service, options={"aspect_ratio": "9:16"})
    content = download(service, get_task(service, created["task_id"])["output_urls"][0]).body
    width, height = images.pixel_size("1K", "9:16")
    with Image.open(io.BytesIO(content)) as image:
        assert image.size == (round(width * 0.25), round(height * 0.25))


def test_no_image_for_unknown_or_unfinished_tasks(make_service: ServiceFactory, clock: Clock) -> None:
    service = make_service(latency=0.3)
    task_id = generate(service)["task_id"]
    refused(fetch(service, f"/files/{task_id}.png"), 404)
    refused(fetch(service, "/files/task-nope.png"), 404)
    clock.advance(0.5)
    assert get_task(service, task_id)["status"] == "success"
    download(service, f"{ORIGIN}/files/{task_id}.png")
    assert refused(fetch(service, f"/files/{task_id}.png", "POST"), 405).endswith("use GET")


# -- faults -------------------------------------------------------------------


def test_fault_fail_prompts(service: Service) -> None:
    service.config.faults.fail_prompts = ("explode",)
    doomed = generate(service, prompt="please explode now")["task_id"]
    fine = generate(service, prompt="a calm diagram")["task_id"]
    task = get_task(service, doomed)
    assert task["status"] == "failed"
    assert task["error"].startswith("generation failed: ")
    assert "output_urls" not in task
    assert task["completed_at"] is not None
    assert get_task(service, fine)["status"] == "success"
    refused(fetch(service, f"/files/{doomed}.png"), 404)


def test_fail_rate_is_deterministic_for_a_seed(make_service: ServiceFactory) -> None:
    def outcomes(service: Service) -> list[str]:
        return [get_task(service, generate(service)["task_id"])["status"] for _ in range(12)]

    first = outcomes(make_service(fail_rate=0.5, seed=7))
    assert first == outcomes(make_service(fail_rate=0.5, seed=7))
    assert set(first) == {"success", "failed"}
    assert set(outcomes(make_service(fail_rate=1.0))) == {"failed"}


def test_fault_drop_after_create(service: Service) -> None:
    service.config.faults.drop_after_create = 1
    dropped = api(service, "POST", "/generate", json_body={"type": "standard", "prompt": "x"})
    assert dropped.status == 0  # the HTTP layer hangs up without answering
    # The task exists and was paid for, which is what makes the failure ambiguous.
    [task] = service.tasks()
    assert service.credits_charged == 10
    listed = ok(api(service, "GET", "/tasks"), "TaskListResponse")["tasks"]
    assert [t["task_id"] for t in listed] == [task["task_id"]]
    assert service.records()[0].status == 0
    generate(service)
    assert service.config.faults.drop_after_create == 0


def test_fault_read_errors(make_service: ServiceFactory) -> None:
    service = make_service(faults=Faults(read_errors=2))
    task_id = generate(service)["task_id"]
    assert refused(api(service, "GET", f"/task/{task_id}"), 500) == "internal error (injected)"
    assert refused(api(service, "GET", "/tasks"), 500) == "internal error (injected)"
    get_task(service, task_id)
    ok(api(service, "GET", "/tasks"), "TaskListResponse")


def test_fault_generate_errors(make_service: ServiceFactory) -> None:
    service = make_service(faults=Faults(generate_errors=1))
    reply = api(service, "POST", "/generate", json_body={"type": "standard", "prompt": "x"})
    assert refused(reply, 500) == "internal error (injected)"
    assert service.tasks() == []
    assert service.credits_charged == 0
    generate(service)


def test_fault_bad_gateway(make_service: ServiceFactory) -> None:
    service = make_service(faults=Faults(bad_gateway=2))
    for reply in (api(service, "GET", "/credits"), api(service, "GET", "/tasks", key=None)):
        assert reply.status == 502
        assert reply.content_type.startswith("text/html")
        with pytest.raises(ValueError, match="Expecting value"):
            json.loads(reply.body)
    ok(api(service, "GET", "/credits"), "CreditsResponse")


def test_fault_rate_limit_storm(make_service: ServiceFactory) -> None:
    service = make_service(faults=Faults(rate_limit_storm=2))
    for _ in range(2):
        reply = api(service, "GET", "/credits")
        assert refused(reply, 429).startswith("rate limit exceeded")
        assert header(reply, "Retry-After") == "1"
    ok(api(service, "GET", "/credits"), "CreditsResponse")


def test_fault_truncate_downloads(service: Service) -> None:
    url = get_task(service, generate(service)["task_id"])["output_urls"][0]
    service.config.faults.truncate_downloads = 1
    cut = download(service, url)
    assert cut.truncate  # the HTTP layer sends half of it; see the wire test below
    whole = download(service, url)
    assert not whole.truncate
    assert whole.body == cut.body
    assert images.sniff_format(whole.body) == "PNG"


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PDF", "application/pdf")])
def test_fault_serve_format(service: Service, fmt: str, content_type: str) -> None:
    service.config.faults.serve_format = fmt
    url = get_task(service, generate(service)["task_id"])["output_urls"][0]
    assert url.endswith(".png")
    reply = download(service, url)
    assert reply.content_type == content_type
    assert images.sniff_format(reply.body) == fmt


# -- over real loopback HTTP: what only the wire shows -------------------------


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One bounded request, straight to the emulator whatever proxy the environment names."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, timeout=TIMEOUT, **kwargs)


def over_http(
    emulator: Emulator, method: str, path: str, *, key: str | None = KEY, **kwargs: Any
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return send(method, emulator.base_url + path, headers=headers, **kwargs)


def generate_over_http(emulator: Emulator) -> str:
    response = over_http(emulator, "POST", "/generate", json={"type": "standard", "prompt": "x"})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def connect(emulator: Emulator) -> http.client.HTTPConnection:
    host, port = emulator.base_url.split("/")[2].split(":")
    return http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)


def test_a_task_over_http_names_its_image_at_the_servers_origin(emulator: Emulator) -> None:
    task_id = generate_over_http(emulator)
    response = over_http(emulator, "GET", f"/task/{task_id}")
    assert response.headers["Content-Type"] == "application/json"
    task = response.json()["data"]
    origin = emulator.base_url.replace("/api/v1", "")
    assert task["output_urls"] == [f"{origin}/files/{task_id}.png"]
    assert emulator.tasks() == [task]
    image = send("GET", task["output_urls"][0])
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    assert int(image.headers["Content-Length"]) == len(image.content)
    assert images.sniff_format(image.content) == "PNG"
    assert emulator.count("POST", "/api/v1/generate") == 1
    assert emulator.credits_charged == 10 == 75_000 - emulator.remaining_credits
    assert emulator.config is emulator.service.config


def test_unreadable_bodies_are_400_and_close_the_connection(emulator: Emulator) -> None:
    chunked = over_http(
        emulator, "POST", "/generate", data=iter([b'{"type": "standard", ', b'"prompt": "x"}'])
    )
    assert chunked.status_code == 400
    assert chunked.json()["error"].startswith("request body must be JSON")
    assert chunked.headers["Connection"] == "close"
    connection = connect(emulator)
    try:
        connection.putrequest("POST", "/api/v1/generate")
        connection.putheader("Authorization", f"Bearer {KEY}")
        connection.putheader("Content-Length", str(1 << 30))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 400
        assert response.will_close
    finally:
        connection.close()


def test_a_dropped_answer_is_a_closed_connection(emulator: Emulator) -> None:
    emulator.config.faults.drop_after_create = 1
    with pytest.raises(requests.ConnectionError):
        over_http(emulator, "POST", "/generate", json={"type": "standard", "prompt": "x"})
    assert len(emulator.tasks()) == 1
    assert emulator.records()[0].status == 0


def test_truncated_download_on_the_wire(emulator: Emulator) -> None:
    task_id = generate_over_http(emulator)
    emulator.config.faults.truncate_downloads = 1
    connection = connect(emulator)
    try:
        connection.request("GET", f"/files/{task_id}.png")
        response = connection.getresponse()
        length = int(response.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as caught:
            response.read()
        assert len(caught.value.partial) == length // 2
    finally:
        connection.close()
    whole = send("GET", emulator.base_url.replace("/api/v1", f"/files/{task_id}.png")).content
    assert len(whole) == length
    assert images.sniff_format(whole) == "PNG"


def test_keep_alive_serves_many_requests_on_one_connection(emulator: Emulator) -> None:
    connection = connect(emulator)
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    try:
        for method, path, body, status in [
            ("GET", "/api/v1/credits", None, 200),
            ("POST", "/api/v1/generate", b"{not json", 400),
            ("GET", "/api/v1/task/task-nope", None, 404),
            ("POST", "/api/v1/generate", b'{"type": "standard", "prompt": "x"}', 200),
        ]:
            connection.request(method, path, body=body, headers=auth)
            response = connection.getresponse()
            assert response.status == status
            response.read()
            assert not response.will_close
    finally:
        connection.close()


def test_stop_closes_the_port_and_is_idempotent() -> None:
    with Emulator(EmulatorConfig(host="localhost")) as emulator:
        url = emulator.base_url
        assert url.startswith("http://localhost:")
        assert url.endswith("/api/v1")
        session = requests.Session()
        session.trust_env = False
        response = session.get(url + "/credits", headers={"Authorization": f"Bearer {KEY}"}, timeout=TIMEOUT)
        assert response.status_code == 200
        assert schema_errors("CreditsResponse", response.json()) == []
    emulator.stop()
    # Even the session's kept-alive connection is gone.
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/credits", headers={"Authorization": f"Bearer {KEY}"}, timeout=TIMEOUT)
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


def test_the_factory_fixture_stops_what_it_started(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator(rpm=5)
    assert emulator.config.rpm == 5
    assert emulator.config.image_scale == 0.1  # small images unless asked otherwise
    with pytest.raises(RuntimeError, match="already running"):
        emulator.start()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_only_loopback_hosts_are_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(EmulatorConfig(host=host))


def test_serve_runs_in_the_foreground_until_interrupted() -> None:
    answers: list[int] = []

    def ready(base_url: str) -> None:
        def client() -> None:
            try:
                response = send("GET", base_url + "/credits", headers={"Authorization": f"Bearer {KEY}"})
                answers.append(response.status_code)
            finally:
                _thread.interrupt_main()

        threading.Thread(target=client, daemon=True).start()

    with pytest.raises(KeyboardInterrupt):
        serve(EmulatorConfig(), ready)
    assert answers == [200]


def test_a_configured_key_is_the_only_one_accepted() -> None:
    service = Service(EmulatorConfig(key=KEY))
    assert ok(api(service, "GET", "/credits"), "CreditsResponse")["remaining_credits"] == 75_000
    assert refused(api(service, "GET", "/credits", key=OTHER_KEY), 401) == "invalid API key"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_unsupported_methods_are_a_json_405(method: str) -> None:
    reply = api(Service(), method, "/credits")
    assert refused(reply, 405) == f"{method} is not supported"
    assert header(reply, "Allow") == "GET, POST"


def test_trace_reaches_the_service_over_http(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator()
    with requests.Session() as session:
        session.trust_env = False
        response = session.request("TRACE", emulator.base_url + "/credits", timeout=5)
    assert response.status_code == 405
    assert response.json() == {"success": False, "error": "TRACE is not supported"}
