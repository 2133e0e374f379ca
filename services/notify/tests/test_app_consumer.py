"""The consumer's table on in-memory ports, as ``bootstrap.build`` wires it: CloudEvents decoded at the
edge into each aggregate's handlers, then handed whole to learning records and webhooks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from services.notify.tests.app_world import World, who
from services.notify.tests.memory import MemoryStatementQueue

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild_common.events.consumer import EventHandler, PermanentError
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind, combine
from guild_notify.adapters.webhook_client import event_json
from guild_notify.app.webhooks import WEBHOOK_EVENT_TYPES, WEBHOOK_SCOPE, WebhookFanout
from guild_notify.app.xapi import StatementRecorder
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.xapi import OptOuts, Profile, statement_id
from guild_notify.entrypoints.event_decoders import DECODERS
from guild_notify.entrypoints.learning_events import LEARNING_EVENTS


class Consumer:
    """The world and its consumer's table: decoded handlers, learning records to one store, webhooks."""

    def __init__(self) -> None:
        self.world = World()
        self.statements = MemoryStatementQueue()
        recorder = StatementRecorder(
            self.statements,
            self.world.preferences,
            Profile("https://learning.example.com"),
            ["lrs"],
            OptOuts(),
            rules=LEARNING_EVENTS,
        )
        fanout = WebhookFanout(self.world.webhooks, self.world.deliveries, event_json)
        self.table: dict[str, EventHandler] = combine(
            bind(DECODERS, self.world.handlers),
            recorder.sinks(),
            {event_type: fanout.on_event for event_type in WEBHOOK_EVENT_TYPES},
        )

    async def consume(self, envelope: Envelope) -> None:
        await self.table[envelope.type](envelope)


def _envelope(service: str, name: str, payload: Message) -> Envelope:
    return new_envelope(
        service=service, name=name, payload=payload, subject="s", region="emea", programme="sales"
    )


@pytest.fixture
def consumer() -> Consumer:
    return Consumer()


def test_every_decoded_event_has_a_handler_and_every_consumed_type_a_use(consumer: Consumer) -> None:
    decoded = bind(DECODERS, consumer.world.handlers)
    assert set(decoded) == set(DECODERS)  # no decoder without a handler
    assert set(consumer.table) == set(DECODERS) | set(LEARNING_EVENTS) | WEBHOOK_EVENT_TYPES


async def test_one_event_notifies_records_learning_and_queues_webhooks(consumer: Consumer) -> None:
    world = consumer.world
    hook = await world.webhooks_uc.create(
        who("hr", WEBHOOK_SCOPE), "https://hooks.example.com/x", ["guild.content.answer_posted.v1"], ""
    )
    posted = _envelope(
        "content",
        "answer_posted",
        content.AnswerPosted(
            answer_id="a1",
            question_id="q1",
            community_id="c1",
            author_id="bob",
            question_author_id="ann",
            question_title="How do I book leave?",
        ),
    )
    await consumer.consume(posted)
    await consumer.consume(posted)  # redelivered: each effect once
    [n] = world.inbox.notifications.values()
    assert (n.id, n.recipient_id, n.type, n.create_time) == (
        f"{posted.id}:ann:new_answer",
        "ann",
        NotificationType.NEW_ANSWER,
        posted.time,
    )
    [queued] = consumer.statements.statements.values()
    assert queued.queued.statement_id == statement_id(posted.id)
    assert json.loads(queued.queued.body)["actor"]["account"]["name"] == "bob"  # the learner answered
    [delivery] = world.deliveries.deliveries.values()
    assert (delivery.webhook_id, delivery.event_id) == (hook.id, posted.id)
    assert json.loads(delivery.body)["data"]["question_title"] == "How do I book leave?"


async def test_the_read_models_are_updated_before_the_notices_of_the_same_event(consumer: Consumer) -> None:
    world = consumer.world
    await consumer.consume(
        _envelope("community", "member_joined", community.MemberJoined(community_id="c1", member_id="ann"))
    )
    await consumer.consume(
        _envelope(
            "community",
            "role_granted",
            community.RoleGranted(community_id="c1", member_id="ann", role="owner", granted_by="olga"),
        )
    )
    membership = await world.memberships.get("c1", "ann")
    assert membership is not None
    assert membership.role == "owner"
    await consumer.consume(
        _envelope("community", "join_requested", community.JoinRequested(community_id="c1", member_id="zed"))
    )
    texts = sorted(n.text for n in world.inbox.notifications.values() if n.recipient_id == "ann")
    assert texts == ["You were made an owner of the community", "zed asks to join your community"]


async def test_a_question_is_nudged_from_the_time_it_was_asked(consumer: Consumer) -> None:
    asked_at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    stamp = Timestamp()
    stamp.FromDatetime(asked_at)
    event = _envelope(
        "content",
        "question_asked",
        content.QuestionAsked(
            question_id="q1", community_id="c1", author_id="ann", title="T", create_time=stamp
        ),
    )
    await consumer.consume(event)
    nudge = consumer.world.nudges.records["q1"].nudge
    assert nudge is not None
    assert nudge.ask_time == asked_at
    assert nudge.due_time >= asked_at + timedelta(hours=24)
    without = _envelope(
        "content", "question_asked", content.QuestionAsked(question_id="q2", community_id="c1")
    )
    await consumer.consume(without)
    untimed = consumer.world.nudges.records["q2"].nudge
    assert untimed is not None
    assert untimed.ask_time == without.time  # no time in the payload: when the event was written


async def test_a_payload_that_does_not_parse_is_dead_lettered_at_once(consumer: Consumer) -> None:
    good = _envelope(
        "content",
        "answer_posted",
        content.AnswerPosted(answer_id="a1", question_id="q1", author_id="bob", question_author_id="ann"),
    )
    broken = replace(good, data=b"\xff\xff\xff")
    with pytest.raises(PermanentError):
        await consumer.consume(broken)
    assert consumer.world.inbox.notifications == {}
