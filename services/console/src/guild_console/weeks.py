"""ISO week keys (``2026-W48``) of the weeks up to now, oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta


def recent_weeks(now: datetime, count: int) -> list[str]:
    keys = []
    for back in range(count - 1, -1, -1):
        year, number, _ = (now - timedelta(weeks=back)).isocalendar()
        keys.append(f"{year}-W{number:02d}")
    return keys
