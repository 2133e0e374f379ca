"""A Learning Record Store on loopback, shaped like a real one for what notify sends: ``POST
<base>/statements`` with ``X-Experience-API-Version`` 1.0.x and, when credentials are set, HTTP Basic auth;
the answer is 200 with the list of statement ids. Each statement id is stored once: a batch holding an id
the store has already is refused whole with 409, as xAPI requires.

Tests use :func:`lrs_server`; for local development run it on a fixed port, and it prints each statement
it takes as one JSON line on stdout (requests are logged on stderr):

    .venv/bin/python -m guild_testing.lrs --port 8095 --username guild --password guild
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

DEFAULT_PORT = 8095


@dataclass
class Lrs:
    """What the store has received and stored. ``status`` other than 200 answers every request with it
    (after ``delay``); ``refused`` statement ids are answered with 400; with ``username`` set, requests
    without those Basic credentials are answered with 401. ``out``, when set, gets each stored statement
    as one JSON line."""

    name: str
    username: str | None = None
    password: str = field(default="", repr=False)
    status: int = 200
    delay: float = 0.0
    url: str = ""
    out: TextIO | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Handles one POST (``headers`` with lower-case names); returns the status and the body."""
        at = time.monotonic()
        time.sleep(self.delay)
        statements = _statements(body)
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "statements": statements or [], "at": at})
            if self.status != 200:
                return self.status, b""
            if not path.split("?", 1)[0].endswith("/statements"):
                return 404, _error("only POST <base>/statements is served")
            if not headers.get("x-experience-api-version", "").startswith("1.0."):
                return 400, _error("X-Experience-API-Version 1.0.x is required")
            if not self._authorised(headers.get("authorization", "")):
                return 401, _error("Basic credentials are required")
            if statements is None:
                return 400, _error("the body must be a statement or a list of statements, each with an id")
            ids = [s["id"] for s in statements]
            if any(i in self.refused for i in ids):
                return 400, _error("statement refused")
            if any(i in self.stored for i in ids):
                return 409, _error("a statement with this id is stored already")
            self.stored.update(zip(ids, statements, strict=True))
            if self.out is not None:
                for statement in statements:
                    self.out.write(json.dumps(statement, ensure_ascii=False) + "\n")
                self.out.flush()
            return 200, json.dumps(ids).encode()

    def _authorised(self, header: str) -> bool:
        if self.username is None:
            return True
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, f"{self.username}:{self.password}".encode())

    def endpoint(self, username: str = "", password: str = "") -> dict[str, str]:
        """An entry of ``GUILD_XAPI_ENDPOINTS`` for this store."""
        return {"name": self.name, "url": self.url, "username": username, "password": password}

    async def wait_for(self, count: int, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.stored) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{self.name}: {len(self.stored)} of {count}"
            await asyncio.sleep(0.05)
        return self.stored

    async def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.requests) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{self.name}: {len(self.requests)} requests"
            await asyncio.sleep(0.05)


def _statements(body: bytes) -> list[dict[str, Any]] | None:
    """The statements of a request body, or None if it is not a statement or a list of them with ids."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    statements = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(s, dict) and isinstance(s.get("id"), str) for s in statements):
        return None
    return statements


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _server(lrs: Lrs, port: int, log: TextIO | None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, payload = lrs.receive(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self.wfile.write(payload)
            if log is not None:
                count = len(_statements(body) or [])
                log.write(f"[lrs] POST {self.path} {count} statement(s): {status} {payload.decode()}\n")
                log.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    lrs.url = f"http://127.0.0.1:{server.server_address[1]}/xapi/"
    return server


@contextmanager
def lrs_server(name: str, **options: Any) -> Iterator[Lrs]:
    """Runs a store on a free loopback port, in a thread, for the block; ``options`` go to :class:`Lrs`."""
    lrs = Lrs(name, **options)
    server = _server(lrs, 0, None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield lrs
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m guild_testing.lrs",
        description="A development Learning Record Store on 127.0.0.1: prints each statement it takes as "
        "one JSON line on stdout.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--username", default="guild", help="Basic auth user (default guild)")
    parser.add_argument("--password", default="guild", help="Basic auth password (default guild)")
    args = parser.parse_args(argv)
    lrs = Lrs("dev", username=args.username, password=args.password, out=sys.stdout)
    server = _server(lrs, args.port, sys.stderr)
    endpoint = lrs.endpoint(args.username, args.password)
    setting = json.dumps([endpoint], separators=(",", ":"))
    sys.stderr.write(f"[lrs] listening on {lrs.url}\n[lrs] GUILD_XAPI_ENDPOINTS='{setting}'\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
