"""Domain events of the content service as CloudEvents envelopes with protobuf payloads."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild.events.v1 import content_events_pb2 as pb
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import current_trace_headers
from guild_content.domain.model import (
    AnswerAccepted,
    AnswerPosted,
    AnswerUnaccepted,
    CommunityView,
    DomainEvent,
    QuestionAsked,
)

SERVICE = "content"


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _payload(event: DomainEvent) -> tuple[str, str, Message]:
    """Event name, CloudEvents subject and payload."""
    match event:
        case QuestionAsked(question=q):
            return (
                "question_asked",
                q.id,
                pb.QuestionAsked(
                    question_id=q.id,
                    community_id=q.community_id,
                    author_id=q.author_id,
                    title=q.title,
                    tags=q.tags,
                    create_time=_ts(q.create_time),
                ),
            )
        case AnswerPosted(answer=a, question=q):
            return (
                "answer_posted",
                a.id,
                pb.AnswerPosted(
                    answer_id=a.id,
                    question_id=q.id,
                    community_id=q.community_id,
                    author_id=a.author_id,
                    question_author_id=q.author_id,
                    question_title=q.title,
                    create_time=_ts(a.create_time),
                ),
            )
        case AnswerAccepted(answer=a, question=q, accepted_by=by, time=time):
            return (
                "answer_accepted",
                a.id,
                pb.AnswerAccepted(
                    answer_id=a.id,
                    question_id=q.id,
                    community_id=q.community_id,
                    answer_author_id=a.author_id,
                    question_author_id=q.author_id,
                    accepted_by=by,
                    question_title=q.title,
                    accept_time=_ts(time),
                ),
            )
        case AnswerUnaccepted(
            answer_id=answer_id, answer_author_id=author, question=q, unaccepted_by=by, time=t
        ):
            return (
                "answer_unaccepted",
                answer_id,
                pb.AnswerUnaccepted(
                    answer_id=answer_id,
                    question_id=q.id,
                    community_id=q.community_id,
                    answer_author_id=author,
                    unaccepted_by=by,
                    unaccept_time=_ts(t),
                ),
            )
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover


def to_envelopes(events: list[DomainEvent], community: CommunityView) -> list[Envelope]:
    trace_headers = current_trace_headers()
    envelopes = []
    for event in events:
        name, subject, payload = _payload(event)
        envelopes.append(
            new_envelope(
                service=SERVICE,
                name=name,
                payload=payload,
                subject=subject,
                region=community.region,
                programme=community.programme,
                traceparent=trace_headers.get("traceparent", ""),
                tracestate=trace_headers.get("tracestate", ""),
            )
        )
    return envelopes
