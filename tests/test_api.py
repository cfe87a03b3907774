"""The API client: exact edge cases with requests-mock (what a real server can't easily do)."""

from __future__ import annotations

import email.utils
import io
import time

import pytest
import requests
import requests_mock as rm

from figbuild.backends.paperbanana import client as api
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.ratelimit import RateLimiter
from figbuild.backends.paperbanana.retry import RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.errors import (
    AmbiguousSubmission,
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

BASE = "https://api.example.test/api/v1"
KEY = "sk-test-very-secret-0123456789"
CREDITS = {
    "success": True,
    "data": {"remaining_credits": 500, "team_plan": "team-pro", "rate_limit_rpm": 300},
}
BODY = {"type": "standard", "prompt": "p", "model": "nano-banana-pro", "options": {"resolution": "1K"}}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Client:
    settings = Settings(base_url=BASE, key=KEY)
    return Client(settings, policy=RetryPolicy(max_attempts=4), limiter=RateLimiter(1000), sleep=sleeps)


def test_credits_are_typed_and_set_the_rate_limit(requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{BASE}/credits", json=CREDITS)
    with Client(Settings(base_url=BASE, key=KEY)) as fresh:
        credits = fresh.credits()
        assert credits == api.Credits(500, "team-pro", 300)
        assert fresh.limiter.rpm == 300
    sent = requests_mock.request_history[0]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["User-Agent"].startswith("figbuild/")


def test_first_call_learns_the_rate_limit(requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{BASE}/credits", json=CREDITS)
    requests_mock.get(
        f"{BASE}/tasks",
        json={"success": True, "data": {"tasks": [], "pagination": {"page": 1, "limit": 20, "total": 0}}},
    )
    with Client(Settings(base_url=BASE, key=KEY)) as fresh:
        fresh.tasks()
        assert fresh.limiter.rpm == 300
    assert [r.path for r in requests_mock.request_history] == ["/api/v1/credits", "/api/v1/tasks"]


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (400, BadRequest, "rejected"),
        (401, Unauthorized, "PAPERBANANA_API_KEY"),
        (402, PaymentRequired, "top up"),
        (403, Forbidden, "Team plan"),
        (404, NotFound, "not found"),
    ],
)
def test_client_errors_carry_the_server_text_and_a_hint(
    requests_mock: rm.Mocker, client: Client, status: int, error: type[Exception], words: str
) -> None:
    requests_mock.get(f"{BASE}/task/t1", status_code=status, json={"success": False, "error": "the reason"})
    with pytest.raises(error) as raised:
        client.task("t1")
    assert "the reason" in str(raised.value)
    assert words in str(raised.value)
    assert requests_mock.call_count == 1, "4xx is never retried"


def test_429_with_an_http_date_retry_after_is_honoured(
    requests_mock: rm.Mocker, client: Client, sleeps: Sleeps
) -> None:
    when = email.utils.formatdate(time.time() + 7, usegmt=True)
    requests_mock.get(
        f"{BASE}/task/t1",
        [
            {
                "status_code": 429,
                "headers": {"Retry-After": when},
                "json": {"success": False, "error": "slow"},
            },
            {"json": {"success": True, "data": {"task_id": "t1", "status": "processing"}}},
        ],
    )
    assert client.task("t1").status == "processing"
    assert len(sleeps) == 1
    assert 5 <= sleeps[0] <= 7.5
    assert requests_mock.call_count == 2


def test_429_with_seconds_and_then_giving_up(
    requests_mock: rm.Mocker, client: Client, sleeps: Sleeps
) -> None:
    requests_mock.get(
        f"{BASE}/task/t1",
        status_code=429,
        headers={"Retry-After": "2"},
        json={"success": False, "error": "rate limit exceeded"},
    )
    with pytest.raises(RateLimited, match="rate limit exceeded"):
        client.task("t1")
    assert sleeps == [2.0, 2.0, 2.0]
    assert requests_mock.call_count == 4


def test_429_on_generate_is_retried_since_nothing_was_created(
    requests_mock: rm.Mocker, client: Client, sleeps: Sleeps
) -> None:
    requests_mock.post(
        f"{BASE}/generate",
        [
            {"status_code": 429, "json": {"success": False, "error": "slow"}},
            {"json": {"success": True, "data": {"task_id": "t9", "credits_used": 10, "status": "pending"}}},
        ],
    )
    assert client.generate(BODY).task_id == "t9"
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 1.0, "no Retry-After: jittered backoff"


def test_502_html_page_gives_a_clean_message_and_reads_retry(
    requests_mock: rm.Mocker, client: Client, sleeps: Sleeps
) -> None:
    requests_mock.get(
        f"{BASE}/task/t1",
        status_code=502,
        text="<html><body>Bad Gateway</body></html>",
        headers={"Content-Type": "text/html"},
    )
    with pytest.raises(ServerError) as raised:
        client.task("t1")
    message = str(raised.value)
    assert "502" in message
    assert "text/html" in message
    assert "<html>" not in message
    assert requests_mock.call_count == 4
    assert len(sleeps) == 3


def test_5xx_on_generate_is_ambiguous_and_never_resent(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.post(f"{BASE}/generate", status_code=500, json={"success": False, "error": "boom"})
    before = time.time()
    with pytest.raises(AmbiguousSubmission) as raised:
        client.generate(BODY)
    assert requests_mock.call_count == 1
    assert raised.value.submitted_after >= before - 1


def test_dropped_connection_on_generate_is_ambiguous(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.post(f"{BASE}/generate", exc=requests.ConnectionError("reset by peer"))
    with pytest.raises(AmbiguousSubmission):
        client.generate(BODY)
    assert requests_mock.call_count == 1


def test_connect_timeout_on_generate_is_safe_to_retry(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.post(
        f"{BASE}/generate",
        [
            {"exc": requests.ConnectTimeout("no route")},
            {"json": {"success": True, "data": {"task_id": "t2", "credits_used": 10}}},
        ],
    )
    assert client.generate(BODY).task_id == "t2"


def test_body_that_is_not_json(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.get(f"{BASE}/task/t1", text="hello")
    with pytest.raises(MalformedResponse, match="not JSON"):
        client.task("t1")


def test_json_without_the_envelope(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.get(f"{BASE}/task/t1", json={"task_id": "t1"})
    with pytest.raises(MalformedResponse):
        client.task("t1")


def test_unknown_fields_are_tolerated(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.get(
        f"{BASE}/task/t1",
        json={
            "success": True,
            "extra": 1,
            "data": {
                "task_id": "t1",
                "status": "success",
                "output_urls": ["https://img.test/a.png"],
                "novel": {"x": 1},
            },
        },
    )
    assert client.task("t1").output_urls == ("https://img.test/a.png",)


def test_network_errors_on_reads_are_retried_then_reported(
    requests_mock: rm.Mocker, client: Client, sleeps: Sleeps
) -> None:
    requests_mock.get(f"{BASE}/task/t1", exc=requests.ConnectionError("down"))
    with pytest.raises(NetworkError, match="PAPERBANANA_BASE_URL"):
        client.task("t1")
    assert requests_mock.call_count == 4


def test_iter_tasks_walks_every_page(requests_mock: rm.Mocker, client: Client) -> None:
    def page(n: int, ids: list[str]) -> dict[str, object]:
        tasks = [{"task_id": i, "status": "success"} for i in ids]
        return {
            "json": {
                "success": True,
                "data": {"tasks": tasks, "pagination": {"page": n, "limit": 100, "total": 150}},
            }
        }

    requests_mock.get(f"{BASE}/tasks", [page(1, [f"a{i}" for i in range(100)]), page(2, ["b1", "b2"])])
    assert len(list(client.iter_tasks(status="success"))) == 102
    assert requests_mock.request_history[1].qs == {"page": ["2"], "limit": ["100"], "status": ["success"]}


def test_download_cut_mid_body_is_an_error(requests_mock: rm.Mocker, client: Client) -> None:
    class Cut(io.BytesIO):
        def read(self, *args: object, **kwargs: object) -> bytes:
            raise requests.exceptions.ChunkedEncodingError("connection broken")

    requests_mock.get("https://img.test/a.png", body=Cut(b"x"), headers={"Content-Length": "1000"})
    with pytest.raises(NetworkError, match="cut"):
        client.download("https://img.test/a.png", io.BytesIO())


def test_download_shorter_than_its_length_is_an_error(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.get("https://img.test/a.png", content=b"12345", headers={"Content-Length": "10"})
    with pytest.raises(NetworkError, match="5 of 10 bytes"):
        client.download("https://img.test/a.png", io.BytesIO())


def test_download_never_sends_the_key(requests_mock: rm.Mocker, client: Client) -> None:
    requests_mock.get("https://img.test/a.png", content=b"\x89PNG")
    client.download("https://img.test/a.png", io.BytesIO())
    assert "Authorization" not in requests_mock.request_history[0].headers


def test_download_refuses_plain_http_to_a_remote_host(client: Client) -> None:
    with pytest.raises(UsageError):
        client.download("http://img.example.org/a.png", io.BytesIO())


def test_key_is_in_no_repr() -> None:
    settings = Settings(base_url=BASE, key=KEY)
    assert KEY not in repr(settings)
    assert KEY not in repr(Client(settings))
