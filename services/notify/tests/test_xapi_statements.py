"""xAPI statements built from events: every kind is valid xAPI 1.0.3 by Learning Locker's validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.events.envelope import Envelope, new_envelope
from guild_notify.domain import xapi
from guild_notify.domain.xapi import Kind, Profile, build_statement, statement_id
from guild_notify.entrypoints.learning_events import LEARNING_EVENTS

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = Path(__file__).with_name("xapi_validate.js")
PROFILE = Profile("https://learning.example.com", "https://learning.example.com/guild")
TIME = datetime(2026, 5, 4, 9, 12, 3, 120000, tzinfo=UTC)


def _envelope(service: str, name: str, payload: Message, region: str = "emea") -> Envelope:
    envelope = new_envelope(
        service=service, name=name, payload=payload, subject="s", region=region, programme="sales"
    )
    return Envelope(**{**envelope.__dict__, "time": TIME})


# One event of every type that is learning activity, with the member the statement is about.
EVENTS: list[tuple[Envelope, Kind, str]] = [
    (
        _envelope("content", "question_asked", content.QuestionAsked(
            question_id="q1", community_id="c1", author_id="ann", title="How do I ask?", tags=["t"])),
        Kind.QUESTION_ASKED,
        "ann",
    ),
    (
        _envelope("content", "answer_posted", content.AnswerPosted(
            answer_id="a1", question_id="q1", community_id="c1", author_id="bob",
            question_author_id="ann", question_title="How do I ask?")),
        Kind.ANSWER_POSTED,
        "bob",
    ),
    (
        _envelope("content", "answer_accepted", content.AnswerAccepted(
            answer_id="a1", question_id="q1", community_id="c1", answer_author_id="bob",
            question_author_id="ann", accepted_by="ann", question_title="How do I ask?")),
        Kind.ANSWER_ACCEPTED,
        "ann",
    ),
    (
        _envelope("content", "comment_posted", content.CommentPosted(
            comment_id="k1", post_id="a1", post_kind="answer", question_id="q1", community_id="c1",
            author_id="cy", post_author_id="bob")),
        Kind.COMMENT_POSTED,
        "cy",
    ),
    (
        _envelope("content", "resource_shared", content.ResourceShared(
            resource_id="r 1/é", community_id="c1", author_id="dee", url="https://docs.example.com/x",
            title="Zoë's guide", media_type="text/html")),
        Kind.RESOURCE_SHARED,
        "dee",
    ),
    (
        _envelope("content", "item_rated", content.ItemRated(
            item_id="r1", item_kind="resource", community_id="c1", author_id="dee", rater_id="eve",
            stars=4, previous_stars=0, average=4.0, count=1)),
        Kind.ITEM_RATED,
        "eve",
    ),
    (
        _envelope("content", "collection_followed", content.CollectionFollowed(
            collection_id="col1", community_id="c1", curator_id="fay", follower_id="gus", follower_count=3)),
        Kind.COLLECTION_FOLLOWED,
        "gus",
    ),
    (
        _envelope("reputation", "badge_awarded", reputation.BadgeAwarded(
            award_id="aw1", community_id="c1", member_id="bob", badge="helpful", tier="silver",
            title="Helpful")),
        Kind.BADGE_EARNED,
        "bob",
    ),
    (
        _envelope("community", "survey_response_submitted", community.SurveyResponseSubmitted(
            survey_id="sv1", community_id="c1", member_id="hal")),
        Kind.SURVEY_RESPONDED,
        "hal",
    ),
    (
        _envelope("community", "member_joined", community.MemberJoined(
            community_id="c1", member_id="ida", role="member"), region="global"),
        Kind.COMMUNITY_JOINED,
        "ida",
    ),
]  # fmt: skip


def _statement(envelope: Envelope) -> dict[str, Any]:
    event = LEARNING_EVENTS[envelope.type](envelope)
    assert event is not None
    return build_statement(event, PROFILE)


def validate(statements: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each statement's problems according to @learninglocker/xapi-validation (run under node)."""
    node = shutil.which("node")
    assert node, "node is needed to run the xAPI validator (make sync installs it with the build tools)"
    assert (ROOT / "node_modules" / "@learninglocker" / "xapi-validation").is_dir(), "run make sync"
    result = subprocess.run(
        [node, str(VALIDATOR)],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    problems: list[list[dict[str, Any]]] = json.loads(result.stdout)
    return problems


def test_every_kind_of_statement_is_valid_xapi() -> None:
    assert {kind for _, kind, _ in EVENTS} == set(Kind)
    assert {envelope.type for envelope, _, _ in EVENTS} == set(LEARNING_EVENTS)
    statements = [_statement(envelope) for envelope, _, _ in EVENTS]
    problems = validate(statements)
    assert problems == [[] for _ in statements], json.dumps(
        [(s["verb"]["id"], p) for s, p in zip(statements, problems, strict=True) if p], indent=1
    )


def test_the_validator_finds_problems() -> None:
    """The validator is really run: a statement with a bad verb IRI and score is refused."""
    statement = _statement(EVENTS[5][0])
    statement["verb"]["id"] = "rated"
    statement["result"]["score"]["raw"] = 9
    [problems] = validate([statement])
    paths = {p["path"] for p in problems}
    assert "statement.verb.id" in paths
    assert any(path.startswith("statement.result.score") for path in paths), paths


@pytest.mark.parametrize(("envelope", "kind", "actor"), EVENTS, ids=[k.value for _, k, _ in EVENTS])
def test_statement_shape(envelope: Envelope, kind: Kind, actor: str) -> None:
    s = _statement(envelope)
    assert s["id"] == statement_id(envelope.id) == _statement(envelope)["id"]
    assert s["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": "https://learning.example.com", "name": actor},
    }
    assert s["verb"]["id"] == xapi.VERBS[kind].id
    assert s["timestamp"] == "2026-05-04T09:12:03.120Z"
    assert s["object"]["id"].startswith("https://learning.example.com/guild/")
    assert s["context"]["platform"] == "Guild"
    extensions = s["context"].get("extensions", {})
    assert extensions.get("https://learning.example.com/guild/extensions/programme") == "sales"
    if kind is Kind.COMMUNITY_JOINED:
        # the community is the object, and an event about a person names no region
        assert s["object"]["id"] == "https://learning.example.com/guild/communities/c1"
        assert "https://learning.example.com/guild/extensions/region" not in extensions
    else:
        grouping = s["context"]["contextActivities"]["grouping"]
        assert grouping[0]["id"] == "https://learning.example.com/guild/communities/c1"
        assert extensions["https://learning.example.com/guild/extensions/region"] == "emea"


def test_statement_details() -> None:
    by_kind = {kind: _statement(envelope) for envelope, kind, _ in EVENTS}
    base = "https://learning.example.com/guild"
    asked = by_kind[Kind.QUESTION_ASKED]["object"]
    assert asked == {
        "objectType": "Activity",
        "id": f"{base}/questions/q1",
        "definition": {
            "type": "http://adlnet.gov/expapi/activities/question",
            "name": {"und": "How do I ask?"},
        },
    }
    answered = by_kind[Kind.ANSWER_POSTED]
    assert answered["object"]["id"] == f"{base}/questions/q1"
    assert answered["context"]["contextActivities"]["other"][0]["id"] == f"{base}/answers/a1"
    accepted = by_kind[Kind.ANSWER_ACCEPTED]
    assert accepted["object"]["id"] == f"{base}/answers/a1"
    assert accepted["context"]["contextActivities"]["parent"][0]["id"] == f"{base}/questions/q1"
    shared = by_kind[Kind.RESOURCE_SHARED]["object"]
    assert shared["id"] == f"{base}/resources/r%201%2F%C3%A9"  # ids of any text make one path segment
    assert shared["definition"]["moreInfo"] == "https://docs.example.com/x"
    assert by_kind[Kind.ITEM_RATED]["result"] == {"score": {"raw": 4, "min": 1, "max": 5}}
    assert by_kind[Kind.BADGE_EARNED]["object"]["id"] == f"{base}/communities/c1/badges/helpful/silver"


def test_ids_are_stable_and_the_activity_base_defaults_to_the_home_page() -> None:
    # the namespace is fixed for good: an id once sent must come out the same after any release
    assert statement_id("event-1") == "c19cc867-7462-5ddb-acbd-bc92cc7da03b"
    assert statement_id("event-1") == statement_id("event-1") != statement_id("event-2")
    assert (
        Profile("https://org.example/").iri(xapi.question("q"))
        == "https://org.example/xapi/activities/questions/q"
    )


def test_ratings_out_of_range_make_no_statement() -> None:
    envelope = _envelope("content", "item_rated", content.ItemRated(item_id="r1", rater_id="eve", stars=0))
    assert LEARNING_EVENTS[envelope.type](envelope) is None
