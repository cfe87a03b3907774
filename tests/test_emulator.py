"""The emulator over real loopback HTTP, every answer checked against the OpenAPI schemas."""

from __future__ import annotations

import _thread
import http.client
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from figbuild import images
from figbuild.emulator import Emulator, EmulatorConfig, Faults, serve

OPENAPI = Path(__file__).resolve().parents[1] / "schemas" / "paperbanana.openapi.yaml"
OPENAPI_URI = "urn:figbuild:paperbanana-openapi"
KEY = "sk-test-key"
OTHER_KEY = "sk-other-key"
TIMEOUT = 5  # every HTTP call is bounded

MakeEmulator = Callable[..., Emulator]


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


def checked(response: requests.Response, schema: str) -> dict[str, Any]:
    """The JSON body of ``response``, after checking it against component ``schema``."""
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert schema_errors(schema, body) == [], body
    return body


def ok(response: requests.Response, schema: str) -> Any:
    assert response.status_code == 200, response.text
    return checked(response, schema)["data"]


def refused(response: requests.Response, status: int) -> str:
    """The error text of a refusal with ``status``, checked against the Error schema."""
    assert response.status_code == status, response.text
    error: str = checked(response, "Error")["error"]
    return error


# -- talking to the emulator --------------------------------------------------


def api(
    emulator: Emulator, method: str, path: str, *, key: str | None = KEY, **kwargs: Any
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return send(method, emulator.base_url + path, headers=headers, **kwargs)


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One bounded request, straight to the emulator whatever proxy the environment names."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, timeout=TIMEOUT, **kwargs)


def generate(emulator: Emulator, key: str = KEY, **fields: Any) -> dict[str, Any]:
    """Start a valid task (fields override the defaults); the checked POST /generate data."""
    body = {"type": "standard", "prompt": "A neural network diagram", **fields}
    data: dict[str, Any] = ok(api(emulator, "POST", "/generate", key=key, json=body), "GenerateResponse")
    return data


def get_task(emulator: Emulator, task_id: str, key: str = KEY) -> dict[str, Any]:
    task: dict[str, Any] = ok(api(emulator, "GET", f"/task/{task_id}", key=key), "TaskResponse")
    return task


def wait_for(
    emulator: Emulator, task_id: str, done: tuple[str, ...] = ("success", "failed")
) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        task = get_task(emulator, task_id)
        if task["status"] in done:
            return task
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} did not reach {done}")


def download(url: str) -> requests.Response:
    response = send("GET", url)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def make_emulator() -> Iterator[MakeEmulator]:
    """Start emulators with config overrides (small images by default); stop them after."""
    started: list[Emulator] = []

    def make(**settings: Any) -> Emulator:
        settings.setdefault("image_scale", 0.1)
        emulator = Emulator(EmulatorConfig(**settings)).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> Iterator[Emulator]:
    emulator = make_emulator()
    yield emulator
    # No fault is injected here, so no request may have hit the 500 path.
    assert [r for r in emulator.records() if r.status >= 500] == []


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


def test_credits_report_balance_plan_and_rate_limit(emulator: Emulator) -> None:
    data = ok(api(emulator, "GET", "/credits"), "CreditsResponse")
    assert data == {"remaining_credits": 75_000, "team_plan": "team-basic", "rate_limit_rpm": 120}


@pytest.mark.parametrize(("resolution", "cost"), [("1K", 10), ("2K", 15), ("4K", 25)])
def test_generate_charges_the_documented_cost(emulator: Emulator, resolution: str, cost: int) -> None:
    data = generate(emulator, type="pipeline", model="nano-banana-2", options={"resolution": resolution})
    assert data["status"] == "pending"
    assert data["credits_used"] == cost
    assert (data["type"], data["model"]) == ("pipeline", "nano-banana-2")
    assert data["task_id"].startswith("task-")
    assert emulator.credits_charged == cost
    credits = ok(api(emulator, "GET", "/credits"), "CreditsResponse")
    assert credits["remaining_credits"] == 75_000 - cost == emulator.remaining_credits


def test_generate_fills_in_the_documented_defaults(emulator: Emulator) -> None:
    task = get_task(emulator, generate(emulator)["task_id"])
    assert (task["model"], task["resolution"], task["aspect_ratio"]) == (
        "nano-banana-pro",
        "1K",
        "1:1",
    )


def test_generate_accepts_every_limit_exactly(emulator: Emulator) -> None:
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
    generate(emulator, **body)


def test_a_finished_task_has_its_result(emulator: Emulator) -> None:
    created = generate(emulator, prompt="A red apple", options={"resolution": "2K", "aspect_ratio": "16:9"})
    task = get_task(emulator, created["task_id"])
    assert task["status"] == "success"
    assert task["prompt"] == "A red apple"
    assert task["output_urls"] == [
        emulator.base_url.replace("/api/v1", "") + f"/files/{created['task_id']}.png"
    ]
    assert task["completed_at"] is not None
    assert task["created_at"].endswith("Z")
    assert "error" not in task
    assert emulator.tasks() == [task]


def test_tasks_move_pending_processing_success_with_latency(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(latency=0.3)
    task_id = generate(emulator)["task_id"]
    seen: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        task = get_task(emulator, task_id)
        if not seen or seen[-1] != task["status"]:
            seen.append(task["status"])
        if task["status"] != "success":
            assert task["completed_at"] is None
            assert "output_urls" not in task
        else:
            break
        time.sleep(0.01)
    assert seen == ["pending", "processing", "success"]


def test_list_is_newest_first_paged_and_filtered(emulator: Emulator) -> None:
    ids = [generate(emulator, type=kind)["task_id"] for kind in ("standard", "pipeline", "standard")]
    generate(emulator, key=OTHER_KEY)  # another key's task is never listed

    data = ok(api(emulator, "GET", "/tasks"), "TaskListResponse")
    assert [t["task_id"] for t in data["tasks"]] == ids[::-1]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 3}

    page = ok(api(emulator, "GET", "/tasks", params={"page": 2, "limit": 2}), "TaskListResponse")
    assert [t["task_id"] for t in page["tasks"]] == [ids[0]]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3}

    pipeline = ok(api(emulator, "GET", "/tasks", params={"type": "pipeline"}), "TaskListResponse")
    assert [t["task_id"] for t in pipeline["tasks"]] == [ids[1]]
    failed = ok(api(emulator, "GET", "/tasks", params={"status": "failed"}), "TaskListResponse")
    assert failed["tasks"] == []
    everything = {"type": "all", "status": "success", "limit": 100}
    assert (
        ok(api(emulator, "GET", "/tasks", params=everything), "TaskListResponse")["pagination"]["total"] == 3
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
def test_list_rejects_bad_parameters(emulator: Emulator, query: dict[str, Any], field: str) -> None:
    error = refused(api(emulator, "GET", "/tasks", params=query), 400)
    assert error.startswith(field)


def test_a_task_belongs_to_its_key(emulator: Emulator) -> None:
    task_id = generate(emulator)["task_id"]
    assert refused(api(emulator, "GET", f"/task/{task_id}", key=OTHER_KEY), 404) == (
        f"task not found: {task_id}"
    )
    assert ok(api(emulator, "GET", "/tasks", key=OTHER_KEY), "TaskListResponse")["tasks"] == []


def test_unknown_task_is_404(emulator: Emulator) -> None:
    assert refused(api(emulator, "GET", "/task/task-nope"), 404) == "task not found: task-nope"


def test_requests_are_recorded_and_counted(emulator: Emulator) -> None:
    generate(emulator)
    api(emulator, "GET", "/tasks", params={"page": 1})
    api(emulator, "GET", "/credits", key=None)
    records = emulator.records()
    assert [(r.method, r.path, r.query, r.status, r.key) for r in records] == [
        ("POST", "/api/v1/generate", "", 200, KEY),
        ("GET", "/api/v1/tasks", "page=1", 200, KEY),
        ("GET", "/api/v1/credits", "", 401, None),
    ]
    assert [r.time for r in records] == sorted(r.time for r in records)
    assert emulator.count("POST", "/api/v1/generate") == 1
    assert emulator.count("GET", "/api/v1/") == 2


def test_concurrent_generates_all_land(emulator: Emulator) -> None:
    results: list[str] = []

    def submit() -> None:
        results.append(generate(emulator)["task_id"])

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(set(results)) == 16
    assert emulator.credits_charged == 160


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
def test_generate_rejects_what_the_schema_rejects(
    emulator: Emulator, body: dict[str, Any], field: str
) -> None:
    assert schema_errors("GenerateRequest", body) != []
    error = refused(api(emulator, "POST", "/generate", json=body), 400)
    assert error.startswith(field)
    assert emulator.credits_charged == 0
    assert emulator.tasks() == []


def test_enum_errors_name_the_allowed_values(emulator: Emulator) -> None:
    body = {"type": "standard", "prompt": "x", "options": {"resolution": "4k"}}
    error = refused(api(emulator, "POST", "/generate", json=body), 400)
    assert error == 'options.resolution must be one of "1K", "2K", "4K"; got "4k"'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"type": "standard", "prompt": ', "request body is not valid JSON"),
        (b"\xff\xfe not utf-8", "request body is not valid JSON"),
        (b"", "request body is not valid JSON"),
        (b"[" * 100_000, "request body is not valid JSON"),
        (b'["standard", "x"]', "request body must be a JSON object"),
    ],
)
def test_generate_rejects_a_body_that_is_not_a_json_object(
    emulator: Emulator, data: bytes, message: str
) -> None:
    response = api(emulator, "POST", "/generate", data=data, headers={"Content-Type": "application/json"})
    assert refused(response, 400).startswith(message)


def test_unreadable_bodies_are_400_and_close_the_connection(emulator: Emulator) -> None:
    chunked = api(emulator, "POST", "/generate", data=iter([b'{"type": "standard", ', b'"prompt": "x"}']))
    assert refused(chunked, 400).startswith("request body must be JSON")
    assert chunked.headers["Connection"] == "close"
    host, port = emulator.base_url.split("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
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


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/credits"), ("POST", "/generate"), ("GET", "/task/task-x"), ("GET", "/tasks")],
)
def test_every_endpoint_requires_a_key(emulator: Emulator, method: str, path: str) -> None:
    missing = refused(api(emulator, method, path, key=None), 401)
    assert missing == "missing API key: send Authorization: Bearer sk-..."
    wrong_scheme = api(emulator, method, path, key=None, headers={"Authorization": "Basic c2stYQ=="})
    assert refused(wrong_scheme, 401) == missing
    assert refused(api(emulator, method, path, key="pk-secret-value"), 401) == "invalid API key"


def test_insufficient_credits_is_402_and_charges_nothing(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(credits=30)
    generate(emulator)
    generate(emulator)
    body = {"type": "standard", "prompt": "x", "options": {"resolution": "2K"}}
    error = refused(api(emulator, "POST", "/generate", json=body), 402)
    assert error == "insufficient credits: 15 required, 10 remaining"
    assert emulator.credits_charged == 20
    assert len(emulator.tasks()) == 2
    generate(emulator)  # a 1K still fits


def test_unknown_paths_and_methods(emulator: Emulator) -> None:
    assert refused(api(emulator, "GET", "/nothing"), 404).startswith("no such endpoint")
    outside = send("GET", emulator.base_url.replace("/api/v1", "/other"))
    assert refused(outside, 404).startswith("not found")
    wrong = api(emulator, "GET", "/generate")
    assert refused(wrong, 405) == "GET is not allowed on /api/v1/generate; use POST"
    assert wrong.headers["Allow"] == "POST"
    refused(api(emulator, "DELETE", "/task/task-x"), 405)
    refused(api(emulator, "PUT", "/credits"), 405)
    refused(api(emulator, "OPTIONS", "/tasks"), 405)


# -- rate limit ---------------------------------------------------------------


def test_sliding_window_rate_limit(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(rpm=2, window=0.5)
    start = time.monotonic()
    for _ in range(2):
        ok(api(emulator, "GET", "/credits"), "CreditsResponse")
    time.sleep(max(0.0, start + 0.25 - time.monotonic()))
    for _ in range(2):
        limited = api(emulator, "GET", "/credits")
        assert refused(limited, 429) == "rate limit exceeded: 2 requests per 0.5 seconds"
        assert limited.headers["Retry-After"] == "1"
    ok(api(emulator, "GET", "/credits", key=OTHER_KEY), "CreditsResponse")  # the limit is per key
    # Once the first two leave the window there is room for two more: the 429s did not count.
    time.sleep(max(0.0, start + 0.55 - time.monotonic()))
    for _ in range(2):
        ok(api(emulator, "GET", "/credits"), "CreditsResponse")
    refused(api(emulator, "GET", "/credits"), 429)


def test_refused_requests_count_against_the_limit(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(rpm=2)
    refused(api(emulator, "POST", "/generate", json={"type": "standard"}), 400)
    refused(api(emulator, "GET", "/task/task-nope"), 404)
    refused(api(emulator, "GET", "/credits"), 429)


def test_image_downloads_are_not_rate_limited(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(rpm=2, window=60)
    url = get_task(emulator, generate(emulator)["task_id"])["output_urls"][0]
    for _ in range(3):
        download(url)
    refused(api(emulator, "GET", "/credits"), 429)
    assert 1 <= int(api(emulator, "GET", "/credits").headers["Retry-After"]) <= 60


def test_rate_limit_message_says_per_minute_by_default(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(rpm=1)
    api(emulator, "GET", "/credits")
    assert refused(api(emulator, "GET", "/credits"), 429) == ("rate limit exceeded: 1 requests per minute")


# -- images -------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "ratio"), [("1K", "16:9"), ("2K", "3:4")])
def test_output_url_serves_a_png_of_the_documented_size(
    make_emulator: MakeEmulator, resolution: str, ratio: str
) -> None:
    emulator = make_emulator(image_scale=1.0)
    created = generate(emulator, options={"resolution": resolution, "aspect_ratio": ratio})
    response = download(get_task(emulator, created["task_id"])["output_urls"][0])
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(response.content)
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG"
        assert image.size == images.pixel_size(resolution, ratio)


def test_image_scale_shrinks_the_image(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(image_scale=0.25)
    created = generate(emulator, options={"aspect_ratio": "9:16"})
    content = download(get_task(emulator, created["task_id"])["output_urls"][0]).content
    width, height = images.pixel_size("1K", "9:16")
    with Image.open(io.BytesIO(content)) as image:
        assert image.size == (round(width * 0.25), round(height * 0.25))


def test_no_image_for_unknown_or_unfinished_tasks(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(latency=0.3)
    task_id = generate(emulator)["task_id"]
    files = emulator.base_url.replace("/api/v1", "/files")
    refused(send("GET", f"{files}/{task_id}.png"), 404)
    refused(send("GET", f"{files}/task-nope.png"), 404)
    wait_for(emulator, task_id)
    download(f"{files}/{task_id}.png")


# -- faults -------------------------------------------------------------------


def test_fault_fail_prompts(emulator: Emulator) -> None:
    emulator.config.faults.fail_prompts = ("explode",)
    doomed = generate(emulator, prompt="please explode now")["task_id"]
    fine = generate(emulator, prompt="a calm diagram")["task_id"]
    task = get_task(emulator, doomed)
    assert task["status"] == "failed"
    assert task["error"].startswith("generation failed: ")
    assert "output_urls" not in task
    assert task["completed_at"] is not None
    assert get_task(emulator, fine)["status"] == "success"
    refused(
        send("GET", emulator.base_url.replace("/api/v1", f"/files/{doomed}.png")),
        404,
    )


def test_fail_rate_is_deterministic_for_a_seed(make_emulator: MakeEmulator) -> None:
    def outcomes(emulator: Emulator) -> list[str]:
        return [get_task(emulator, generate(emulator)["task_id"])["status"] for _ in range(12)]

    first = outcomes(make_emulator(fail_rate=0.5, seed=7))
    assert first == outcomes(make_emulator(fail_rate=0.5, seed=7))
    assert set(first) == {"success", "failed"}
    assert set(outcomes(make_emulator(fail_rate=1.0))) == {"failed"}


def test_fault_drop_after_create(emulator: Emulator) -> None:
    emulator.config.faults.drop_after_create = 1
    with pytest.raises(requests.ConnectionError):
        api(emulator, "POST", "/generate", json={"type": "standard", "prompt": "x"})
    # The task exists and was paid for, which is what makes the failure ambiguous.
    [task] = emulator.tasks()
    assert emulator.credits_charged == 10
    listed = ok(api(emulator, "GET", "/tasks"), "TaskListResponse")["tasks"]
    assert [t["task_id"] for t in listed] == [task["task_id"]]
    assert emulator.records()[0].status == 0
    generate(emulator)
    assert emulator.config.faults.drop_after_create == 0


def test_fault_read_errors(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(faults=Faults(read_errors=2))
    task_id = generate(emulator)["task_id"]
    assert refused(api(emulator, "GET", f"/task/{task_id}"), 500) == "internal error (injected)"
    assert refused(api(emulator, "GET", "/tasks"), 500) == "internal error (injected)"
    get_task(emulator, task_id)
    ok(api(emulator, "GET", "/tasks"), "TaskListResponse")


def test_fault_generate_errors(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(faults=Faults(generate_errors=1))
    response = api(emulator, "POST", "/generate", json={"type": "standard", "prompt": "x"})
    assert refused(response, 500) == "internal error (injected)"
    assert emulator.tasks() == []
    assert emulator.credits_charged == 0
    generate(emulator)


def test_fault_bad_gateway(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(faults=Faults(bad_gateway=2))
    for response in (api(emulator, "GET", "/credits"), api(emulator, "GET", "/tasks", key=None)):
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("text/html")
        with pytest.raises(ValueError, match="Expecting value"):
            json.loads(response.text)
    ok(api(emulator, "GET", "/credits"), "CreditsResponse")


def test_fault_rate_limit_storm(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(faults=Faults(rate_limit_storm=2))
    for _ in range(2):
        response = api(emulator, "GET", "/credits")
        assert refused(response, 429).startswith("rate limit exceeded")
        assert response.headers["Retry-After"] == "1"
    ok(api(emulator, "GET", "/credits"), "CreditsResponse")


def test_fault_truncate_downloads(emulator: Emulator) -> None:
    task_id = generate(emulator)["task_id"]
    emulator.config.faults.truncate_downloads = 1
    host, port = emulator.base_url.split("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        connection.request("GET", f"/files/{task_id}.png")
        response = connection.getresponse()
        length = int(response.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as caught:
            response.read()
        assert len(caught.value.partial) == length // 2
    finally:
        connection.close()
    whole = download(get_task(emulator, task_id)["output_urls"][0]).content
    assert len(whole) == length
    assert images.sniff_format(whole) == "PNG"


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PDF", "application/pdf")])
def test_fault_serve_format(emulator: Emulator, fmt: str, content_type: str) -> None:
    emulator.config.faults.serve_format = fmt
    url = get_task(emulator, generate(emulator)["task_id"])["output_urls"][0]
    assert url.endswith(".png")
    response = download(url)
    assert response.headers["Content-Type"] == content_type
    assert images.sniff_format(response.content) == fmt


# -- HTTP behaviour and life cycle ---------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(emulator: Emulator) -> None:
    host, port = emulator.base_url.split("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
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
        ok(
            session.get(url + "/credits", headers={"Authorization": f"Bearer {KEY}"}, timeout=TIMEOUT),
            "CreditsResponse",
        )
    emulator.stop()
    # Even the session's kept-alive connection is gone.
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/credits", headers={"Authorization": f"Bearer {KEY}"}, timeout=TIMEOUT)
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


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


def test_a_configured_key_is_the_only_one_accepted(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(key=KEY)
    assert ok(api(emulator, "GET", "/credits"), "CreditsResponse")["remaining_credits"] == 75_000
    assert refused(api(emulator, "GET", "/credits", key=OTHER_KEY), 401) == "invalid API key"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_unsupported_methods_are_a_json_405(make_emulator: MakeEmulator, method: str) -> None:
    emulator = make_emulator()
    response = api(emulator, method, "/credits")
    assert refused(response, 405) == f"{method} is not supported"
    assert response.headers["Allow"] == "GET, POST"
