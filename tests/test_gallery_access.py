"""Who gets anything from `gallery --serve`: only the browser that opened the printed URL.

The gate is tried by hand (the one-time token, the cookie, the origin) and then by
hypothesis with any path, method, header, cookie and body: without the session
cookie nothing of the paper is served; with it, only the page, images (typed by
their bytes) and the plain texts sent; no action runs without cookie and origin;
and no request ever gets a traceback instead of an answer.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import engine
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.gallery import site
from figbuild.gallery.serve import Builder, GalleryServer
from figbuild.paper import Paper
from figbuild.report import NullReporter

from .conftest import PaperFactory
from .test_gallery import log_in

SECRET_PROMPT = "UNPUBLISHED-PROMPT-7f3a"
SECRET_TEXT = "UNPUBLISHED-PAPER-TEXT-91c2"


class RecordingActions:
    """The buttons, recording each press instead of spending anything."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def pick(self, figure_id: str, k: int) -> str:
        self.calls.append(("pick", figure_id))
        return "picked"

    def restore(self, figure_id: str, version: int) -> str:
        self.calls.append(("restore", figure_id))
        return "restored"

    def accept(self, figure_id: str) -> str:
        self.calls.append(("accept", figure_id))
        return "accepted"

    def sync(self, figure_id: str) -> str:
        self.calls.append(("sync", figure_id))
        return "synced"


@pytest.fixture
def paper(make_paper: PaperFactory) -> Path:
    root = make_paper(
        {"version": 1, "figures": {"a": {"prompt": SECRET_PROMPT, "content": "paper.tex"}}},
        {"paper.tex": f"{SECRET_TEXT}\n"},
    )
    engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter())
    return root


@pytest.fixture
def served(paper: Path) -> Iterator[tuple[GalleryServer, RecordingActions]]:
    actions = RecordingActions()
    with GalleryServer(Builder(paper, paper / ".figbuild" / "gallery"), actions) as server:
        yield server, actions


def raw(
    server: GalleryServer, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.url.split("/")[2].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"{host}:{port}", **(headers or {})}
        for name, value in sent.items():
            connection.putheader(name, value)
        if body or method == "POST":
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_the_page_without_the_cookie_says_to_open_the_printed_url(
    served: tuple[GalleryServer, RecordingActions],
) -> None:
    server, _ = served
    for path in ("/", "/index.html", "/version", f"/{site.SENT}/a.1.txt"):
        status, _, body = raw(server, "GET", path)
        assert status == 403, path
        assert SECRET_PROMPT.encode() not in body
        assert SECRET_TEXT.encode() not in body
    status, headers, body = raw(server, "GET", "/")
    assert b"printed" in body
    assert headers["content-type"].startswith("text/html")


def test_the_printed_url_lets_one_browser_in_once(served: tuple[GalleryServer, RecordingActions]) -> None:
    server, _ = served
    path = "/?" + server.login_url.split("?", 1)[1]
    session = log_in(server)
    status, _, body = raw(server, "GET", "/", {"Cookie": session["Cookie"]})
    assert status == 200
    assert SECRET_PROMPT.encode() in body
    # The same URL again, from a client without the cookie (another user who read it): nothing.
    status, headers, _ = raw(server, "GET", path)
    assert status == 403
    assert "set-cookie" not in headers
    # The browser that is in follows it to the clean URL.
    status, headers, _ = raw(server, "GET", path, {"Cookie": session["Cookie"]})
    assert status == 303
    assert headers["location"] == "/"
    assert "set-cookie" not in headers


def test_nothing_on_the_page_is_a_secret(served: tuple[GalleryServer, RecordingActions]) -> None:
    server, _ = served
    token = server.login_url.split("=", 1)[1]
    session = log_in(server)
    _, headers, body = raw(server, "GET", "/", {"Cookie": session["Cookie"]})
    cookie_value = session["Cookie"].split("=", 1)[1]
    assert cookie_value.encode() not in body
    assert token
    assert token.encode() not in body
    policy = headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "'sha256-" in policy


def test_a_page_planted_in_the_site_folders_is_never_served_as_a_page(
    served: tuple[GalleryServer, RecordingActions], paper: Path
) -> None:
    server, actions = served
    session = log_in(server)
    raw(server, "GET", "/", {"Cookie": session["Cookie"]})  # the site is built
    out = paper / ".figbuild" / "gallery"
    page = b"<script>fetch('action/sync',{method:'POST'})</script>"
    for folder, name in (
        (site.IMAGES, "a" * 64 + ".html"),
        (site.IMAGES, "b" * 64 + ".png"),  # named like an image, bytes of a page
        (site.THUMBS, "c" * 64 + ".svg"),
        (site.SENT, "x.1.html"),
    ):
        (out / folder / name).write_bytes(page)
        status, headers, _ = raw(server, "GET", f"/{folder}/{name}", {"Cookie": session["Cookie"]})
        assert status == 404, (folder, name, headers)
    # A real image: its type from its bytes, never sniffed, sandboxed.
    (image,) = (path for path in (out / site.IMAGES).glob("*.png") if not path.name.startswith("b" * 64))
    status, headers, _ = raw(server, "GET", f"/{site.IMAGES}/{image.name}", {"Cookie": session["Cookie"]})
    assert status == 200
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]
    assert actions.calls == []


def test_a_deeply_nested_body_is_a_400_and_the_server_goes_on(
    served: tuple[GalleryServer, RecordingActions],
) -> None:
    server, actions = served
    session = log_in(server)
    for body in (b"[" * 100_000, b'{"figure": ' + b"[" * 3000 + b"]" * 3000 + b"}", b"{" * 4000):
        status, _, answer = raw(
            server,
            "POST",
            "/action/sync",
            {**session, "Content-Type": "application/json"},
            body[:4096],
        )
        assert status == 400, answer
    status, _, answer = raw(
        server, "POST", "/action/sync", {**session, "Content-Type": "application/json"}, b'{"figure": "a"}'
    )
    assert status == 200, answer
    assert actions.calls == [("sync", "a")]


_PATHS = st.one_of(
    st.sampled_from(
        [
            "/",
            "/index.html",
            "/version",
            "/action/sync",
            "/action/pick",
            "/images/",
            "/thumbs/",
            "/sent/a.1.txt",
            "/../figures.yaml",
            "/sent/..%2f..%2ffigures.yaml",
            "//etc/passwd",
            "/?token=",
            "/?token=x&token=y",
            "*",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60).map(
        lambda s: "/" + s
    ),
)
_HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@pytest.mark.slow
def test_any_request_without_the_session_gets_nothing_and_no_traceback(
    served: tuple[GalleryServer, RecordingActions], capsys: pytest.CaptureFixture[str]
) -> None:
    server, actions = served
    session = log_in(server)
    cookie_name = server.cookie_name

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"]),
        path=_PATHS,
        origin=st.sampled_from([None, server.url.rstrip("/"), "null", "http://evil.example"]),
        cookie=st.one_of(
            st.none(),
            _HEADER_VALUES,
            _HEADER_VALUES.map(lambda v: f"{cookie_name}={v}"),
            st.just(session["Cookie"]),
            st.just(f"other=1; {session['Cookie']}"),
        ),
        content_type=st.sampled_from(
            [None, "application/json", "text/plain", "application/x-www-form-urlencoded"]
        ),
        fetch_site=st.sampled_from([None, "same-origin", "cross-site", "same-site", "none"]),
        body=st.one_of(
            st.binary(max_size=300),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                lambda inner: (
                    st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=20,
            ).map(lambda v: json.dumps(v).encode()),
            st.just(b'{"figure": "a"}'),
            st.just(b'{"figure": "a", "k": 1}'),
        ),
    )
    def check(
        method: str,
        path: str,
        origin: str | None,
        cookie: str | None,
        content_type: str | None,
        fetch_site: str | None,
        body: bytes,
    ) -> None:
        headers = {}
        if origin is not None:
            headers["Origin"] = origin
        if cookie is not None:
            headers["Cookie"] = cookie
        if content_type is not None:
            headers["Content-Type"] = content_type
        if fetch_site is not None:
            headers["Sec-Fetch-Site"] = fetch_site
        before = len(actions.calls)
        try:
            status, answer_headers, answer = raw(
                server, method, path, headers, body if method != "GET" else b""
            )
        except (http.client.HTTPException, OSError):
            return  # http.client itself refused to send it: nothing reached the server
        signed_in = cookie is not None and session["Cookie"] in cookie
        if not signed_in:
            assert status in (400, 403, 404, 501) or (status == 303 and "set-cookie" not in answer_headers)
            assert SECRET_PROMPT.encode() not in answer
            assert SECRET_TEXT.encode() not in answer
        if status == 200 and method == "GET" and path.split("?")[0] not in ("/", "/index.html", "/version"):
            kind = answer_headers["content-type"]
            assert kind.startswith(("image/", "text/plain")) or "attachment" in answer_headers.get(
                "content-disposition", ""
            ), (path, kind)
        if status < 400 or method == "GET":
            assert "nosniff" in answer_headers.get("x-content-type-options", "nosniff")
        pressed = len(actions.calls) > before
        if pressed:
            assert signed_in
            assert origin == server.url.rstrip("/")
            assert method == "POST"
            assert fetch_site in (None, "same-origin")
        assert b"Traceback" not in answer

    check()
    status, _, _ = raw(server, "GET", "/version", {"Cookie": session["Cookie"]})
    assert status == 200  # still serving
    assert "Traceback" not in capsys.readouterr().err


def test_with_a_key_and_no_answer_the_balance_is_unavailable_not_a_hang(
    paper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from .test_engine import run_bounded

    # A port that takes connections and never answers: the network is "down".
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    try:
        monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-key")
        monkeypatch.setenv("PAPERBANANA_BASE_URL", f"http://127.0.0.1:{hole.getsockname()[1]}/api/v1")
        balance = site.key_balance(wait=0.2)
        assert balance is not None
        for _ in range(3):  # each build (a served page's rebuild) waits only as long
            gallery = run_bounded(lambda: site.collect(Paper.open(paper), balance=balance), seconds=8)
            assert gallery.balance is None
            assert gallery.balance_note is not None
            assert "balance unavailable" in gallery.balance_note
    finally:
        hole.close()
