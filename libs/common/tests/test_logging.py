"""Every line a service writes is one JSON object; exceptions are structured tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SCRIPT = """
import logging, warnings
import structlog
from guild_common.logging import configure_logging

configure_logging("probe")
try:
    raise ValueError("broken")
except ValueError as exc:
    logging.getLogger("nats.aio.client").error("nats: encountered error", exc_info=True)
    structlog.get_logger("guild").error("rpc failed", exc_info=exc)
warnings.warn("an old way", UserWarning, stacklevel=1)
raise SystemError("uncaught")
"""


def _run() -> tuple[list[str], list[dict[str, Any]]]:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return lines, parsed


def _frames_of(line: dict[str, Any], exc_type: str) -> list[dict[str, Any]]:
    (exception,) = line["exception"]
    assert exception["exc_type"] == exc_type
    frames: list[dict[str, Any]] = exception["frames"]
    assert frames
    assert {"filename", "lineno", "name"} <= set(frames[0])
    return frames


def test_every_line_is_json_with_structured_tracebacks() -> None:
    lines, parsed = _run()
    assert len(parsed) == len(lines), "non-JSON lines:\n" + "\n".join(
        line for line in lines if not line.startswith("{")
    )
    by_event = {str(line["event"]): line for line in parsed}
    stdlib = by_event["nats: encountered error"]
    assert stdlib["logger"] == "nats.aio.client"
    assert stdlib["level"] == "error"
    _frames_of(stdlib, "ValueError")
    assert "exc_info" not in stdlib
    _frames_of(by_event["rpc failed"], "ValueError")
    warned = next(line for line in parsed if line.get("logger") == "py.warnings")
    assert "UserWarning: an old way" in str(warned["event"])
    assert warned["level"] == "warning"
    _frames_of(by_event["uncaught exception"], "SystemError")
    assert all(line.get("service") == "probe" for line in parsed)
