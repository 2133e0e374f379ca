"""Meaning vectors of questions: compact storage, bucket keys for a nearest-neighbour lookup, and scores.

A question's text (title and body, bounded) is embedded as a unit vector of ``DIM`` floats. It is stored
as ``DIM`` signed bytes (each component times 127, rounded): 256 bytes a question, and a cosine computed
from them differs from the float one by well under 0.01.

The lookup is locality-sensitive hashing by random hyperplanes: ``TABLES`` tables, each ``BITS``
hyperplanes drawn from a fixed seed, so every replica of the service, every process and every release
with the same constants computes the same keys. A vector's key in a table is the side of each hyperplane
it lies on (``"t3:a5"``: table 3, bits ``10100101``). Two vectors at angle θ share a table's key with
probability ``(1 - θ/π) ** BITS``, so the more alike two questions are, the likelier they share at
least one of the ``TABLES`` keys. Candidates are the questions sharing a key, re-ranked by exact cosine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 256
TABLES = 16
BITS = 5
SEED = 20_261_206
# How much of a question is embedded: the title, then the body, cut at this many characters.
TEXT_MAX = 1000
# The cosine at or above which a question counts as meaning the same (see docs/duplicates.md).
THRESHOLD = 0.23
# Suggestions per question, and candidates read per bucket key (newest first).
SUGGESTIONS = 3
CANDIDATES_PER_KEY = 10
_SCALE = 127.0

Floats = npt.NDArray[np.float32]


def _hyperplanes() -> Floats:
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((TABLES * BITS, DIM)).astype(np.float32)


_PLANES = _hyperplanes()
_WEIGHTS = (1 << np.arange(BITS - 1, -1, -1)).astype(np.int64)


def text_of(title: str, body: str) -> str:
    """The text a question is embedded from: its title, then its body, at most ``TEXT_MAX`` characters."""
    return f"{title.strip()}\n{body.strip()}"[:TEXT_MAX]


def unit(vector: Sequence[float] | npt.NDArray[np.floating[Any]]) -> Floats:
    """``vector`` as float32 of length one (all zeros stays zeros)."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (DIM,):
        raise ValueError(f"a meaning vector has {DIM} components, not {array.shape}")
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def pack(vector: Floats) -> bytes:
    """A unit vector as ``DIM`` signed bytes."""
    return bytes(np.clip(np.rint(unit(vector) * _SCALE), -127, 127).astype(np.int8).tobytes())


def unpack(stored: bytes) -> Floats:
    """The unit vector of stored bytes (renormalised after rounding)."""
    return unit(np.frombuffer(stored, dtype=np.int8).astype(np.float32))


def cosine(a: bytes, b: bytes) -> float:
    """Cosine of two stored vectors."""
    return float(np.dot(unpack(a), unpack(b)))


def bucket_keys(vector: Floats) -> list[str]:
    """The vector's key in each table: ``t<table>:<bits as hex>``."""
    sides = (_PLANES @ unit(vector) >= 0).reshape(TABLES, BITS).astype(np.int64)
    codes = sides @ _WEIGHTS
    width = (BITS + 3) // 4
    return [f"t{table}:{int(code):0{width}x}" for table, code in enumerate(codes)]


@dataclass(frozen=True)
class Neighbour:
    """A candidate question scored against the one asked."""

    id: str
    score: float


def nearest(
    vector: bytes,
    candidates: Iterable[tuple[str, bytes]],
    *,
    threshold: float = THRESHOLD,
    limit: int = SUGGESTIONS,
) -> list[Neighbour]:
    """The ``limit`` candidates most like ``vector`` at or above ``threshold``, best first (ties by id)."""
    target = unpack(vector)
    scored = {}
    for candidate_id, stored in candidates:
        if len(stored) == DIM:
            scored[candidate_id] = float(np.dot(target, unpack(stored)))
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    return [Neighbour(i, round(s, 4)) for i, s in ranked if s >= threshold][:limit]
