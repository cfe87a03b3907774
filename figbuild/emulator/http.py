"""The emulator on a loopback port: HTTP in front of :class:`~.service.Service`.

:class:`Emulator` serves on a daemon thread (tests, ``sync --emulator``) or in
the foreground (:func:`figbuild.emulator.server.serve`).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from figbuild.emulator.checks import MAX_BODY
from figbuild.emulator.service import (
    API_PREFIX,
    EmulatorConfig,
    Reply,
    Request,
    RequestRecord,
    Service,
)
from figbuild.urls import is_loopback

#: Images are sent in pieces of this size, as a real file server streams them.
CHUNK = 64 * 1024
#: Piece size of a trickled body.
TRICKLE_PIECE = 1024
#: An "endless" body stops here, so a client without a size limit fails a test, not the machine.
ENDLESS_BOUND = 1 << 30
#: Seconds between checks of the serve loop for stop(): test suites start and stop
#: many emulators, and an idle wake-up this often costs next to nothing.
POLL_INTERVAL = 0.01


class Emulator:
    """A Paper Banana-compatible server on a loopback port.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (a daemon
    thread), or :meth:`serve_forever` (the foreground). What it received and
    charged is read from :attr:`service`, or through the shortcuts below.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.service = Service(config)
        host = self.service.config.host
        if not is_loopback(host):
            raise ValueError(
                f"the emulator only listens on a loopback host (127.0.0.0/8, ::1, localhost), not {host!r}"
            )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        """Bind the port and serve on a daemon thread; return self."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="figbuild-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self, ready: Callable[[str], None]) -> None:
        """Bind, call ``ready`` with the base URL, and serve in this thread until
        KeyboardInterrupt, which is re-raised after a clean stop."""
        server = self._bind()
        try:
            ready(self.base_url)
            server.serve_forever(poll_interval=POLL_INTERVAL)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call more than once."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        server.close_connections()
        server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        config = self.service.config
        self._server = _Server((config.host, config.port), self.service)
        return self._server

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.origin

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:8123/api/v1``."""
        return self.origin + API_PREFIX

    # Shortcuts to the service, for tests and benchmarks.

    @property
    def config(self) -> EmulatorConfig:
        """The live configuration; change ``config.faults`` to inject failures."""
        return self.service.config

    def records(self) -> list[RequestRecord]:
        return self.service.records()

    def count(self, method: str, path_prefix: str) -> int:
        return self.service.count(method, path_prefix)

    @property
    def credits_charged(self) -> int:
        return self.service.credits_charged

    @property
    def remaining_credits(self) -> int:
        return self.service.remaining_credits

    def tasks(self) -> list[dict[str, Any]]:
        return self.service.tasks(self.origin)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # the default 5 makes a burst of parallel connects wait ~1 s

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        self.host = address[0]
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for
        # seconds without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def origin(self) -> str:
        """``http://host:port`` of this server, with the host as configured (e.g. localhost)."""
        host = self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server_address[1]}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Track live connections so stop() can close idle keep-alive ones too.
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # the client closed it first
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Only socket errors get here (_respond() turns everything else into a 500):
        # a client hanging up mid-answer is routine, not worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client can reuse connections
    # Headers and body go out in separate writes; with Nagle's algorithm a reused
    # connection would wait for the client's delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    server: _Server
    timeout = 30  # an idle keep-alive connection frees its thread after this

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def do_TRACE(self) -> None:
        self._serve("TRACE")

    def do_CONNECT(self) -> None:
        self._serve("CONNECT")

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the service's clock, skewed when a test says so.
        faults = self.server.service.config.faults
        skew = faults.clock_skew if faults.date_skew is None else faults.date_skew
        return super().date_time_string((time.time() if timestamp is None else timestamp) + skew)

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: the emulator runs inside tests and under the CLI, which own the terminal.
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        request = Request(
            method, url.path, url.query, self.headers.get("Authorization"), body, self.server.origin
        )
        reply = self.server.service.handle(request)
        if body is None:
            # The unread body is still in the stream; the connection cannot be reused.
            self.close_connection = True
        self._send(reply)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if not 0 <= length <= MAX_BODY:
            return None
        return self.rfile.read(length)

    def _send(self, reply: Reply) -> None:
        if reply.status == 0:
            self.close_connection = True
            return
        if reply.endless:
            self._send_endless(reply)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        body = reply.body
        if reply.truncate:
            body = body[: len(body) // 2]
            self.close_connection = True
        step = TRICKLE_PIECE if reply.trickle else CHUNK
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            if reply.trickle:
                self.wfile.flush()
                time.sleep(reply.trickle)

    def _send_endless(self, reply: Reply) -> None:
        """A body with no length that never ends (up to a safety bound) until the client hangs up."""
        self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        filler = bytes(CHUNK)
        for _ in range(ENDLESS_BOUND // CHUNK):
            self.wfile.write(filler)
