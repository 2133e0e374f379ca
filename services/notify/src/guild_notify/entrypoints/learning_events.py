"""Which events are learning activity, and the xAPI learning event each one is: read from the CloudEvent
(its protobuf payload, id, time, region and programme), one entry per event type."""

from __future__ import annotations

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.events.envelope import GLOBAL, Envelope
from guild_notify.app.xapi import LearningRule
from guild_notify.domain import xapi
from guild_notify.domain.xapi import Kind, LearningEvent


def _event(
    envelope: Envelope,
    kind: Kind,
    actor_id: str,
    community_id: str,
    obj: xapi.Activity,
    *,
    parent: xapi.Activity | None = None,
    other: xapi.Activity | None = None,
    score: xapi.Score | None = None,
) -> LearningEvent:
    region, programme = envelope.region, envelope.programme
    return LearningEvent(
        event_id=envelope.id,
        kind=kind,
        time=envelope.time,
        actor_id=actor_id,
        community_id=community_id,
        object=obj,
        region="" if region == GLOBAL else region,
        programme="" if programme == GLOBAL else programme,
        parent=parent,
        other=other,
        score=score,
    )


def _question_asked(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.QuestionAsked)
    return _event(
        envelope, Kind.QUESTION_ASKED, e.author_id, e.community_id, xapi.question(e.question_id, e.title)
    )


def _answer_posted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.AnswerPosted)
    return _event(
        envelope,
        Kind.ANSWER_POSTED,
        e.author_id,
        e.community_id,
        xapi.question(e.question_id, e.question_title),
        other=xapi.answer(e.answer_id),
    )


def _answer_accepted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.AnswerAccepted)
    return _event(
        envelope,
        Kind.ANSWER_ACCEPTED,
        e.accepted_by,
        e.community_id,
        xapi.answer(e.answer_id),
        parent=xapi.question(e.question_id, e.question_title),
    )


def _comment_posted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.CommentPosted)
    on_answer = e.post_kind == "answer"
    target = xapi.answer(e.post_id) if on_answer else xapi.question(e.post_id)
    parent = xapi.question(e.question_id) if on_answer and e.question_id else None
    return _event(envelope, Kind.COMMENT_POSTED, e.author_id, e.community_id, target, parent=parent)


def _resource_shared(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.ResourceShared)
    return _event(
        envelope,
        Kind.RESOURCE_SHARED,
        e.author_id,
        e.community_id,
        xapi.resource(e.resource_id, e.title, e.url),
    )


def _item_rated(envelope: Envelope) -> LearningEvent | None:
    e = envelope.payload(content.ItemRated)
    if not 1 <= e.stars <= 5:
        return None
    return _event(
        envelope,
        Kind.ITEM_RATED,
        e.rater_id,
        e.community_id,
        xapi.resource(e.item_id),
        score=xapi.Score(raw=e.stars, min=1, max=5),
    )


def _collection_followed(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.CollectionFollowed)
    return _event(
        envelope, Kind.COLLECTION_FOLLOWED, e.follower_id, e.community_id, xapi.collection(e.collection_id)
    )


def _badge_awarded(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(reputation.BadgeAwarded)
    name = f"custom/{e.definition_id}" if e.badge == "custom" and e.definition_id else e.badge
    return _event(
        envelope,
        Kind.BADGE_EARNED,
        e.member_id,
        e.community_id,
        xapi.badge(e.community_id, name, e.tier, e.title),
    )


def _survey_response_submitted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(community.SurveyResponseSubmitted)
    return _event(envelope, Kind.SURVEY_RESPONDED, e.member_id, e.community_id, xapi.survey(e.survey_id))


def _member_joined(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(community.MemberJoined)
    return _event(
        envelope, Kind.COMMUNITY_JOINED, e.member_id, e.community_id, xapi.community(e.community_id)
    )


LEARNING_EVENTS: dict[str, LearningRule] = {
    "guild.content.question_asked.v1": _question_asked,
    "guild.content.answer_posted.v1": _answer_posted,
    "guild.content.answer_accepted.v1": _answer_accepted,
    "guild.content.comment_posted.v1": _comment_posted,
    "guild.content.resource_shared.v1": _resource_shared,
    "guild.content.item_rated.v1": _item_rated,
    "guild.content.collection_followed.v1": _collection_followed,
    "guild.reputation.badge_awarded.v1": _badge_awarded,
    "guild.community.survey_response_submitted.v1": _survey_response_submitted,
    "guild.community.member_joined.v1": _member_joined,
}
