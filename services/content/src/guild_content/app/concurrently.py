"""Independent awaits run at once: an access check beside the reads it guards, two reads side by side.

The reads of a call that does not depend on its access check run while the check runs, so the call waits
for the slower of them rather than their sum; nothing a failed check guards is returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

C = TypeVar("C")
T = TypeVar("T")


async def with_check(check: Awaitable[C], work: Awaitable[T]) -> tuple[C, T]:
    """``check`` (an access check) and ``work``, run at once; the check's error comes first."""
    checked, done = await asyncio.gather(check, work, return_exceptions=True)
    if isinstance(checked, BaseException):
        raise checked
    if isinstance(done, BaseException):
        raise done
    return checked, done


async def checked(check: Awaitable[Any], work: Awaitable[T]) -> T:
    """``work``, run while ``check`` runs; the check's error comes first."""
    return (await with_check(check, work))[1]


async def both(first: Awaitable[C], second: Awaitable[T]) -> tuple[C, T]:
    return await asyncio.gather(first, second)
