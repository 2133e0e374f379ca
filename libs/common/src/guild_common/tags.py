"""The one form of a tag every service stores and compares: posts, profiles, follows, points by topic."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPACES = re.compile(r"\s+")


def normalise_tag(tag: str) -> str:
    """Trimmed, lowercase, runs of whitespace to one hyphen ("Machine  Learning" -> "machine-learning")."""
    return _SPACES.sub("-", tag.strip().lower())


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Each tag normalised, empty ones dropped, de-duplicated in first-seen order."""
    return list(dict.fromkeys(t for t in (normalise_tag(tag) for tag in tags) if t))
