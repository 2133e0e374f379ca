"""Meaning vectors: storage as bytes, bucket keys, nearest neighbours; and the duplicate-marking rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from guild_common.errors import FailedPrecondition, InvalidArgument
from guild_content.domain import similarity
from guild_content.domain.duplicates import check_ids, ensure_markable
from guild_content.domain.questions import Question
from guild_content.domain.similarity import BITS, DIM, TABLES, Neighbour


def _vector(seed: int) -> np.ndarray:
    return similarity.unit(np.random.default_rng(seed).standard_normal(DIM))


def _near(vector: np.ndarray, noise: float, seed: int) -> np.ndarray:
    return similarity.unit(vector + noise * np.random.default_rng(seed).standard_normal(DIM) / np.sqrt(DIM))


def test_a_stored_vector_keeps_its_cosines() -> None:
    a, b = _vector(1), _near(_vector(1), 0.8, 2)
    stored_a, stored_b = similarity.pack(a), similarity.pack(b)
    assert len(stored_a) == DIM
    assert abs(similarity.cosine(stored_a, stored_b) - float(a @ b)) < 0.01
    assert similarity.cosine(stored_a, stored_a) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="components"):
        similarity.unit([1.0, 2.0])


def test_bucket_keys_are_fixed_and_alike_vectors_share_them() -> None:
    a = _vector(3)
    keys = similarity.bucket_keys(a)
    assert len(keys) == TABLES
    assert keys == similarity.bucket_keys(a * 7)  # the same direction, the same keys: any replica agrees
    assert all(k.startswith(f"t{i}:") and int(k.split(":")[1], 16) < 2**BITS for i, k in enumerate(keys))
    assert set(similarity.bucket_keys(-a)).isdisjoint(keys)  # opposite on every hyperplane
    # Close vectors share keys far more often than unrelated ones.
    close = sum(bool(set(keys) & set(similarity.bucket_keys(_near(a, 0.3, s)))) for s in range(50))
    unrelated = sum(bool(set(keys) & set(similarity.bucket_keys(_vector(100 + s)))) for s in range(50))
    assert close == 50
    assert unrelated < 40


def test_nearest_keeps_the_best_above_the_threshold() -> None:
    a = _vector(4)
    stored = similarity.pack(a)
    candidates = [
        ("far", similarity.pack(_vector(5))),
        ("close", similarity.pack(_near(a, 0.3, 6))),
        ("closest", similarity.pack(_near(a, 0.1, 7))),
        ("twin", stored),
        ("broken", b"\x01\x02"),
    ]
    found = similarity.nearest(stored, candidates, threshold=0.5, limit=2)
    assert [n.id for n in found] == ["twin", "closest"]
    assert found[0] == Neighbour("twin", 1.0)
    assert [n.id for n in similarity.nearest(stored, candidates, threshold=0.5)] == [
        "twin",
        "closest",
        "close",
    ]
    assert similarity.nearest(stored, [], threshold=0.0) == []


def test_the_text_embedded_is_bounded() -> None:
    text = similarity.text_of("  Title ", "b" * 5000)
    assert text.startswith("Title\nbbb")
    assert len(text) == similarity.TEXT_MAX


def _question(id: str, community_id: str, minutes: int) -> Question:
    return Question(
        id=id,
        community_id=community_id,
        author_id="ann",
        title="t",
        body="",
        tags=[],
        create_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_the_later_question_points_to_the_earlier_one_of_its_community() -> None:
    earlier, later = _question("q1", "c1", 0), _question("q2", "c1", 5)
    ensure_markable(later, earlier)
    for question, original, reason in (
        (earlier, later, "NOT_EARLIER"),
        (later, _question("q3", "c2", -5), "OTHER_COMMUNITY"),
        (later, later, "DUPLICATE_OF_ITSELF"),
    ):
        with pytest.raises(FailedPrecondition) as caught:
            ensure_markable(question, original)
        assert caught.value.reason == reason
    with pytest.raises(InvalidArgument):
        check_ids("q1", "q1")
    with pytest.raises(InvalidArgument):
        check_ids("", "x" * 129)
