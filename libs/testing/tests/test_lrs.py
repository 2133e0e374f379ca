"""The development Learning Record Store answers like an LRS: a batch with the version header and the
right Basic credentials is stored and answered with its ids; anything else is refused and stored nothing."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from guild_testing.lrs import lrs_server

VERSION = {"X-Experience-API-Version": "1.0.3"}
BATCH: list[dict[str, Any]] = [
    {"id": "0b9f6a3e-1c2d-5e4f-8a7b-6c5d4e3f2a10", "verb": {"id": "asked"}},
    {"id": "s-2"},
]


def test_a_batch_with_the_version_header_and_credentials_is_stored_and_printed() -> None:
    out = io.StringIO()
    with lrs_server("dev", username="guild", password="pa:ss", out=out) as lrs:
        response = httpx.post(f"{lrs.url}statements", json=BATCH, headers=VERSION, auth=("guild", "pa:ss"))
        assert (response.status_code, response.json()) == (200, [s["id"] for s in BATCH])
        assert [json.loads(line) for line in out.getvalue().splitlines()] == BATCH
        again = httpx.post(f"{lrs.url}statements", json=BATCH[:1], headers=VERSION, auth=("guild", "pa:ss"))
        assert again.status_code == 409, "an id is stored once"
        assert len(out.getvalue().splitlines()) == 2


@pytest.mark.parametrize(
    ("path", "headers", "credentials", "status"),
    [
        ("statements", {}, ("guild", "pa:ss"), 400),
        ("statements", {"X-Experience-API-Version": "0.95"}, ("guild", "pa:ss"), 400),
        ("statements", VERSION, None, 401),
        ("statements", VERSION, ("guild", "wrong"), 401),
        ("activities", VERSION, ("guild", "pa:ss"), 404),
    ],
)
def test_a_request_without_the_version_header_or_credentials_is_refused(
    path: str, headers: dict[str, str], credentials: tuple[str, str] | None, status: int
) -> None:
    out = io.StringIO()
    with lrs_server("dev", username="guild", password="pa:ss", out=out) as lrs:
        response = httpx.post(f"{lrs.url}{path}", json=BATCH, headers=headers, auth=credentials)
        assert response.status_code == status
        assert lrs.stored == {}
        assert out.getvalue() == ""


def test_the_command_serves_on_the_given_loopback_port() -> None:
    with lrs_server("probe") as probe:  # a port that is free right now
        port = int(probe.url.split(":")[2].split("/")[0])
    command = [sys.executable, "-m", "guild_testing.lrs", "--port", str(port), "--username", "u"]
    command += ["--password", "p"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = f"http://127.0.0.1:{port}/xapi/statements"
            deadline = time.monotonic() + 10
            while True:
                try:
                    response = httpx.post(url, json=BATCH[1:], headers=VERSION, auth=("u", "p"))
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the command did not listen"
                    time.sleep(0.05)
            assert response.json() == ["s-2"]
        finally:
            process.terminate()
        stdout, stderr = process.communicate(timeout=10)
    assert [json.loads(line) for line in stdout.splitlines()] == BATCH[1:]
    assert f"http://127.0.0.1:{port}/xapi/" in stderr
