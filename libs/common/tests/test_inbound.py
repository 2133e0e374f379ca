"""Events decoded at the edge: decoders checked against the catalog, typed handlers, one combinator."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from google.protobuf import wrappers_pb2

from guild.events.v1 import community_events_pb2 as community
from guild_common.events.consumer import PermanentError
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import Decoder, Decoders, Handler, WiringError, bind, combine, event_types
from guild_common.events.meta import EventMeta

MEMBER_JOINED = "guild.community.member_joined.v1"
MEMBER_LEFT = "guild.community.member_left.v1"


@dataclass(frozen=True)
class Joined:
    meta: EventMeta
    community_id: str
    member_id: str
    role: str


@dataclass(frozen=True)
class Left:
    meta: EventMeta
    community_id: str
    member_id: str


def _joined(m: community.MemberJoined, meta: EventMeta) -> Joined:
    if m.role not in {"member", "moderator"}:
        raise ValueError(f"unknown role {m.role[:20]!r}")
    return Joined(meta, m.community_id, m.member_id, m.role)


DECODERS: Decoders = {
    MEMBER_JOINED: Decoder(community.MemberJoined, Joined, _joined, required=("community_id", "member_id")),
    MEMBER_LEFT: Decoder(community.MemberLeft, Left, lambda m, meta: Left(meta, m.community_id, m.member_id)),
}


def _envelope(name: str, payload: object) -> Envelope:
    return new_envelope(
        service="community",
        name=name,
        payload=payload,  # type: ignore[arg-type]
        subject="c1",
        region="emea",
        programme="sales",
    )


async def test_a_bound_handler_gets_the_typed_event_with_its_metadata() -> None:
    seen: list[Joined] = []

    async def on_joined(event: Joined) -> None:
        seen.append(event)

    table = bind(DECODERS, {Joined: on_joined})
    assert set(table) == {MEMBER_JOINED}  # an event no handler takes is not consumed
    envelope = _envelope(
        "member_joined", community.MemberJoined(community_id="c1", member_id="ann", role="member")
    )
    await table[MEMBER_JOINED](envelope)
    (event,) = seen
    assert (event.community_id, event.member_id, event.role) == ("c1", "ann", "member")
    assert event.meta.id == envelope.id
    assert (event.meta.region, event.meta.programme, event.meta.subject) == ("emea", "sales", "c1")
    assert event.meta.time == envelope.time


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (community.MemberJoined(member_id="ann", role="member"), "without community_id"),
        (community.MemberJoined(community_id="c1", member_id="ann", role="owner!"), "unknown role"),
    ],
)
async def test_a_payload_it_cannot_use_is_dead_lettered(payload: community.MemberJoined, reason: str) -> None:
    async def on_joined(event: Joined) -> None:
        raise AssertionError("not reached")

    table = bind(DECODERS, {Joined: on_joined})
    with pytest.raises(PermanentError, match=reason):
        await table[MEMBER_JOINED](_envelope("member_joined", payload))


async def test_a_payload_that_does_not_parse_is_dead_lettered() -> None:
    async def on_joined(event: Joined) -> None:
        raise AssertionError("not reached")

    broken = _envelope("member_joined", community.MemberJoined(community_id="c1"))
    broken = Envelope(**{**broken.__dict__, "data": b"\x0a\xff"})
    with pytest.raises(PermanentError, match="malformed MemberJoined"):
        await bind(DECODERS, {Joined: on_joined})[MEMBER_JOINED](broken)


def test_a_type_the_catalog_does_not_know_fails_at_start() -> None:
    decoders = {"guild.community.member_danced.v1": DECODERS[MEMBER_JOINED]}
    with pytest.raises(WiringError, match="not in the events catalog"):
        bind(decoders, {})


def test_a_decoder_naming_another_message_than_the_catalog_fails_at_start() -> None:
    decoders = {MEMBER_LEFT: DECODERS[MEMBER_JOINED]}
    with pytest.raises(WiringError, match=r"carries guild\.events\.v1\.MemberLeft"):
        bind(decoders, {})
    wrong_message = {
        MEMBER_JOINED: Decoder(
            wrappers_pb2.StringValue, Joined, lambda m, meta: Joined(meta, m.value, "", "")
        )
    }
    with pytest.raises(WiringError, match=r"not google\.protobuf\.StringValue"):
        bind(wrong_message, {})


def test_a_handler_no_decoder_feeds_fails_at_start() -> None:
    @dataclass(frozen=True)
    class Danced:
        meta: EventMeta

    async def on_danced(event: Danced) -> None:
        return None

    with pytest.raises(WiringError, match="no decoder makes: Danced"):
        bind(DECODERS, {Danced: on_danced})


async def test_combine_runs_every_table_s_handler_of_a_class_in_order() -> None:
    calls: list[str] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def handle(event: object) -> None:
            calls.append(f"{name}:{type(event).__name__}")

        return handle

    points: dict[type, Handler] = {Joined: recorder("points"), Left: recorder("points")}
    boards: dict[type, Handler] = {Joined: recorder("boards")}
    combined = combine(points, boards)
    table = bind(DECODERS, combined)
    await table[MEMBER_JOINED](
        _envelope("member_joined", community.MemberJoined(community_id="c1", member_id="ann", role="member"))
    )
    await table[MEMBER_LEFT](
        _envelope("member_left", community.MemberLeft(community_id="c1", member_id="ann"))
    )
    assert calls == ["points:Joined", "boards:Joined", "points:Left"]
    assert event_types(DECODERS, [Left]) == [MEMBER_LEFT]
