"""Learning records on in-memory ports with a fake Learning Record Store (the real client and LRS are
tested in ``test_xapi_delivery``): statements queued once per endpoint unless opted out, sent in
batches, a batch refused whole sent one by one, failures retried with rest and then dead-lettered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from services.notify.tests.app_world import who
from services.notify.tests.memory import MemoryPreferences, MemoryStatementQueue, RecordingStatementSender

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope, new_envelope
from guild_notify.app.preferences import PreferencesChange, PreferenceUseCases
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.app.xapi import StatementDelivery, StatementRecorder
from guild_notify.domain.xapi import Endpoint, OptOuts, Profile, StatementState, statement_id
from guild_notify.entrypoints.learning_events import LEARNING_EVENTS

PROFILE = Profile("https://learning.example.com")


def _asked(question: str, author: str = "ann", community_id: str = "c1") -> Envelope:
    return new_envelope(
        service="content",
        name="question_asked",
        payload=content.QuestionAsked(
            question_id=question, community_id=community_id, author_id=author, title=f"About {question}"
        ),
        subject=question,
        region="emea",
        programme="sales",
    )


@dataclass
class Recording:
    queue: MemoryStatementQueue = field(default_factory=MemoryStatementQueue)
    preferences: MemoryPreferences = field(default_factory=MemoryPreferences)
    queued: int = 0

    def recorder(self, endpoints: list[str], excluded: frozenset[str] = frozenset()) -> StatementRecorder:
        recorder = StatementRecorder(
            self.queue, self.preferences, PROFILE, endpoints, OptOuts(excluded), rules=LEARNING_EVENTS
        )
        recorder.on_queued = self._on_queued
        return recorder

    def _on_queued(self) -> None:
        self.queued += 1


async def test_a_learning_event_is_queued_once_for_each_endpoint() -> None:
    recording = Recording()
    recorder = recording.recorder(["lrs1", "lrs2"])
    asked = _asked("q1")
    await recorder.record(asked)
    await recorder.record(asked)  # redelivered
    sid = statement_id(asked.id)
    assert recording.queue.state("lrs1", sid) == (StatementState.PENDING, 0)
    assert recording.queue.state("lrs2", sid) == (StatementState.PENDING, 0)
    assert recording.queued == 1  # the workers are woken only for something new
    [stored] = {s.queued.body for s in recording.queue.statements.values()}
    statement = json.loads(stored)
    assert statement["id"] == sid
    assert statement["actor"]["account"] == {"homePage": PROFILE.homepage, "name": "ann"}
    assert statement["verb"]["display"] == {"en-US": "asked"}
    assert set(recorder.sinks()) == set(LEARNING_EVENTS)


async def test_opted_out_members_excluded_communities_and_non_learning_events_are_not_recorded() -> None:
    recording = Recording()
    prefs = PreferenceUseCases(recording.preferences, UnsubscribeTokens("s"))
    await prefs.update(who("quiet"), PreferencesChange(learning_records_opt_out=True))
    recorder = recording.recorder(["lrs"], excluded=frozenset({"c-private"}))
    await recorder.record(_asked("q1", author="quiet"))
    await recorder.record(_asked("q2", community_id="c-private"))
    await recorder.record(
        new_envelope(
            service="content",
            name="item_rated",
            payload=content.ItemRated(item_id="r1", rater_id="ann", community_id="c1", stars=9),
            subject="r1",
            region="emea",
            programme="sales",
        )
    )
    await recorder.record(
        new_envelope(
            service="community",
            name="member_left",  # not learning activity
            payload=community.MemberLeft(community_id="c1", member_id="ann"),
            subject="c1",
            region="emea",
            programme="sales",
        )
    )
    assert recording.queue.statements == {}
    await prefs.update(who("quiet"), PreferencesChange(learning_records_opt_out=False))
    back = _asked("q3", author="quiet")
    await recorder.record(back)
    assert recording.queue.state("lrs", statement_id(back.id)) == (StatementState.PENDING, 0)


async def test_without_an_endpoint_nothing_is_recorded() -> None:
    recording = Recording()
    await recording.recorder([]).record(_asked("q1"))
    assert recording.queue.statements == {}
    assert recording.queued == 0


# --- delivery ----------------------------------------------------------------------------------------


@dataclass
class FakeLrs:
    """Stores each batch whole, or refuses it whole: 409 if it holds one of its statements, 400 if it
    cannot take one."""

    stored: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    batches: list[int] = field(default_factory=list)

    def answer(self, body: bytes) -> int:
        ids = [s["id"] for s in json.loads(body)]
        self.batches.append(len(ids))
        if self.refused & set(ids):
            return 400
        if self.stored & set(ids):
            return 409
        self.stored.update(ids)
        return 200


ENDPOINT = Endpoint("lrs", "https://lrs.example.com/xapi", "user", "secret")


async def _queue(*statement_ids: str) -> MemoryStatementQueue:
    queue = MemoryStatementQueue()
    for sid in statement_ids:
        await queue.enqueue(["lrs"], sid, json.dumps({"id": sid}), utc_now())
    return queue


def _delivery(
    queue: MemoryStatementQueue, sender: RecordingStatementSender, *, base: float = 0.0, batch: int = 50
) -> StatementDelivery:
    return StatementDelivery(
        ENDPOINT,
        queue,
        sender,
        max_attempts=3,
        retry_base_seconds=base,
        retry_max_seconds=60.0,
        lease_seconds=30.0,
        batch_size=batch,
    )


def _states(queue: MemoryStatementQueue, *statement_ids: str) -> dict[str, tuple[StatementState, int] | None]:
    return {sid: queue.state("lrs", sid) for sid in statement_ids}


async def test_statements_are_sent_in_batches_once_each() -> None:
    queue = await _queue("s1", "s2", "s3")
    lrs = FakeLrs()
    sender = RecordingStatementSender(answer=lrs.answer)
    delivery = _delivery(queue, sender, batch=2)
    assert await delivery.sweep() is True  # a full batch: more may be due
    assert await delivery.sweep() is False
    assert await delivery.sweep() is False
    assert lrs.batches == [2, 1]
    assert lrs.stored == {"s1", "s2", "s3"}
    assert [name for name, _ in sender.batches] == ["lrs", "lrs"]
    assert json.loads(sender.batches[0][1]) == [{"id": "s1"}, {"id": "s2"}]
    assert _states(queue, "s1", "s2", "s3") == {s: (StatementState.SENT, 1) for s in ("s1", "s2", "s3")}
    assert await queue.next_due("lrs") is None


async def test_a_batch_the_store_refuses_whole_is_sent_one_by_one() -> None:
    queue = await _queue("s1", "s2", "s3", "s4")
    lrs = FakeLrs(stored={"s2"}, refused={"s3"})  # s2 sent before (the answer was lost); s3 unacceptable
    assert await _delivery(queue, RecordingStatementSender(answer=lrs.answer)).sweep() is False
    assert lrs.batches == [4, 1, 1, 1, 1]
    assert _states(queue, "s1", "s2", "s3", "s4") == {
        "s1": (StatementState.SENT, 1),
        "s2": (StatementState.SENT, 1),  # the store holds it
        "s3": (StatementState.DEAD, 1),  # retrying cannot help
        "s4": (StatementState.SENT, 1),
    }


async def test_a_failing_store_rests_between_batches_and_dead_letters_after_the_last_attempt() -> None:
    queue = await _queue("s1")
    sender = RecordingStatementSender(503)
    delivery = _delivery(queue, sender, base=30.0)
    assert await delivery.sweep() is False
    assert _states(queue, "s1") == {"s1": (StatementState.PENDING, 1)}
    assert await delivery.sweep() is False
    assert len(sender.batches) == 1  # resting: no second request at once
    rest = await delivery.seconds_until_due()
    assert rest is not None
    assert 29 < rest <= 30
    # Each later attempt (here by a worker without the rest, as after the backoff) until the last.
    for attempts in (2, 3):
        queue.statements["lrs:s1"].next_attempt_time = utc_now()
        await _delivery(queue, sender, base=30.0).sweep()
        assert queue.state("lrs", "s1") == (
            StatementState.DEAD if attempts == 3 else StatementState.PENDING,
            attempts,
        )
    await _delivery(queue, sender).sweep()
    assert len(sender.batches) == 3  # a dead statement is not sent again
    assert await queue.next_due("lrs") is None


@pytest.mark.parametrize("failure", [ConnectionError("refused"), TimeoutError("no answer")])
async def test_a_store_that_does_not_answer_is_retried(failure: Exception) -> None:
    queue = await _queue("s1")
    sender = RecordingStatementSender(failure, 200)
    await _delivery(queue, sender).sweep()
    assert queue.state("lrs", "s1") == (StatementState.PENDING, 1)
    assert failure.args[0] in queue.statements["lrs:s1"].error
    await _delivery(queue, sender).sweep()
    assert queue.state("lrs", "s1") == (StatementState.SENT, 2)
