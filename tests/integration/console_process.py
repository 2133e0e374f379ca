"""The insights console as a real process beside ``SuiteProcesses``, on a free HTTP port."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from tests.integration.harness import SuiteProcesses, spawn

from guild_console.config import STATIC_DIR
from guild_testing.processes import free_port

START_TIMEOUT = 30.0


@asynccontextmanager
async def running_console(suite: SuiteProcesses) -> AsyncIterator[str]:
    """Start ``python -m guild_console`` reading ``suite``'s community and reputation; yield its URL."""
    if not (STATIC_DIR / "vendor" / "chart.umd.min.js").is_file():
        raise AssertionError("Chart.js is not in the console's static folder: run `make console-assets`")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONUNBUFFERED": "1",
        "GUILD_HTTP_HOST": "127.0.0.1",
        "GUILD_HTTP_PORT": str(port),
        "GUILD_COMMUNITY_ADDR": suite.address("community"),
        "GUILD_REPUTATION_ADDR": suite.address("reputation"),
    }
    log_path = suite.log_path("community").parent / "console.log"
    process = spawn("console", [sys.executable, "-m", "guild_console"], log_path=log_path, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT
            while True:
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"the console did not start:\n{process.tail()}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.stop()
