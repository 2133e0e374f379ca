"""Waiting for what events make true, with a deadline instead of fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout: float = 20.0,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` until ``accept`` holds and return that value; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
