"""Per-principal limits of one process: concurrent server streams (per principal and in all) and a token
bucket for calls.

They protect a replica from one caller holding its streams or flooding it; they are counted per process,
so with N replicas a caller may have up to N times each limit in all. Service principals (calls between
services) are not limited. Health and reflection never reach them (the request interceptor lets those
through first).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from guild_common.auth import Principal
from guild_common.errors import ResourceExhausted

# Buckets of callers idle long enough to be full again are dropped once this many are kept.
_PRUNE_AT = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RequestLimits:
    """``max_streams`` open server streams per principal (0: no cap) and ``rate`` calls a second with bursts
    of ``burst`` (a rate of 0: no limit). Opening a stream counts as a call."""

    def __init__(
        self,
        *,
        max_streams: int,
        rate: float,
        burst: int,
        max_streams_total: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_streams = max_streams
        self._max_total = max_streams_total
        self._total = 0
        self._rate = rate
        self._burst = max(1, burst)
        self._clock = clock
        self._streams: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, principal: Principal) -> None:
        """Take one token from the principal's bucket, or raise ResourceExhausted with the wait for one."""
        if self._rate <= 0 or principal.is_service:
            return
        now = self._clock()
        bucket = self._buckets.get(principal.subject)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[principal.subject] = _Bucket(float(self._burst), now)
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = (1.0 - bucket.tokens) / self._rate
        raise ResourceExhausted(
            f"too many requests: at most {self._rate:g} a second (bursts of {self._burst}) per caller; "
            f"retry in {math.ceil(wait * 1000)} ms",
            reason="RATE_LIMITED",
            metadata={"limit_per_second": f"{self._rate:g}", "burst": str(self._burst)},
            retry_after_seconds=wait,
        )

    def _prune(self, now: float) -> None:
        full_after = self._burst / self._rate
        for subject in [s for s, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[subject]

    @contextmanager
    def stream(self, principal: Principal) -> Iterator[None]:
        """Hold one of the principal's stream slots, and one of the process's, while the stream is open,
        or raise ResourceExhausted."""
        self.admit(principal)
        if principal.is_service:
            yield
            return
        if 0 < self._max_total <= self._total:
            raise ResourceExhausted(
                f"this server holds its most open streams ({self._max_total}); retry shortly",
                reason="TOO_MANY_STREAMS",
                metadata={"max_streams_total": str(self._max_total)},
                retry_after_seconds=1.0,
            )
        self._total += 1
        try:
            with self._principal_slot(principal):
                yield
        finally:
            self._total -= 1

    @contextmanager
    def _principal_slot(self, principal: Principal) -> Iterator[None]:
        if self._max_streams <= 0:
            yield
            return
        subject = principal.subject
        open_now = self._streams.get(subject, 0)
        if open_now >= self._max_streams:
            raise ResourceExhausted(
                f"too many open streams: at most {self._max_streams} per caller; close one first",
                reason="TOO_MANY_STREAMS",
                metadata={"max_streams": str(self._max_streams)},
            )
        self._streams[subject] = open_now + 1
        try:
            yield
        finally:
            left = self._streams.get(subject, 1) - 1
            if left > 0:
                self._streams[subject] = left
            else:
                self._streams.pop(subject, None)

    def open_streams(self, subject: str) -> int:
        return self._streams.get(subject, 0)
