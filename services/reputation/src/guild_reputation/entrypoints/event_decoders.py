"""Received events decoded at the edge: each type's payload to its ``domain.integration_events`` class.

An event type's ``required`` fields are those any of its handlers needs: an event without one of them is
dead-lettered before any handler acts on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.events.inbound import Decoder, Decoders
from guild_common.events.meta import EventMeta
from guild_reputation.domain import integration_events as ie


def _time(stamp: Timestamp, present: bool, meta: EventMeta) -> datetime:
    """The payload's timestamp when it has one, else the event's time."""
    return stamp.ToDatetime(tzinfo=UTC) if present else meta.time


def _post_created(m: content.PostCreated, meta: EventMeta) -> ie.PostCreated:
    return ie.PostCreated(meta, m.post_id, tuple(m.tags))


def _resource_shared(m: content.ResourceShared, meta: EventMeta) -> ie.ResourceShared:
    return ie.ResourceShared(meta, m.resource_id, m.community_id, m.author_id, tuple(m.tags))


def _question_asked(m: content.QuestionAsked, meta: EventMeta) -> ie.QuestionAsked:
    return ie.QuestionAsked(meta, m.question_id, m.community_id, m.author_id, tuple(m.tags))


def _answer_posted(m: content.AnswerPosted, meta: EventMeta) -> ie.AnswerPosted:
    return ie.AnswerPosted(
        meta,
        m.answer_id,
        m.question_id,
        m.community_id,
        m.author_id,
        m.question_author_id,
        tuple(m.question_tags),
    )


def _answer_accepted(m: content.AnswerAccepted, meta: EventMeta) -> ie.AnswerAccepted:
    return ie.AnswerAccepted(
        meta,
        m.answer_id,
        m.question_id,
        m.community_id,
        m.answer_author_id,
        m.question_author_id,
        m.question_title,
        tuple(m.question_tags),
    )


def _answer_unaccepted(m: content.AnswerUnaccepted, meta: EventMeta) -> ie.AnswerUnaccepted:
    return ie.AnswerUnaccepted(meta, m.answer_id, m.community_id, m.answer_author_id)


def _vote_changed(m: content.VoteChanged, meta: EventMeta) -> ie.VoteChanged:
    return ie.VoteChanged(
        meta,
        m.target_kind,
        m.target_id,
        m.question_id,
        m.community_id,
        m.voter_id,
        m.target_author_id,
        m.previous_value,
        m.value,
        m.score,
        tuple(m.question_tags),
    )


def _post_removed(m: content.PostRemoved, meta: EventMeta) -> ie.PostRemoved:
    return ie.PostRemoved(meta, m.post_id, m.community_id, m.author_id, m.by_moderator)


def _collection_followed(m: content.CollectionFollowed, meta: EventMeta) -> ie.CollectionFollowed:
    return ie.CollectionFollowed(meta, m.collection_id, m.community_id, m.curator_id, m.follower_id)


def _item_rated(m: content.ItemRated, meta: EventMeta) -> ie.ItemRated:
    return ie.ItemRated(
        meta,
        m.item_id,
        m.item_kind,
        m.community_id,
        m.author_id,
        m.rater_id,
        m.stars,
        m.average,
        m.count,
        _time(m.rate_time, m.HasField("rate_time"), meta),
    )


def _comment_posted(m: content.CommentPosted, meta: EventMeta) -> ie.CommentPosted:
    return ie.CommentPosted(meta, m.comment_id, m.post_id, m.question_id, m.community_id, m.author_id)


def _collection_published(m: content.CollectionPublished, meta: EventMeta) -> ie.CollectionPublished:
    return ie.CollectionPublished(
        meta,
        m.collection_id,
        m.community_id,
        m.curator_id,
        m.title,
        tuple(m.item_post_ids),
        _time(m.publish_time, m.HasField("publish_time"), meta),
    )


def _community_created(m: community.CommunityCreated, meta: EventMeta) -> ie.CommunityCreated:
    return ie.CommunityCreated(meta, m.community_id, m.visibility)


def _community_updated(m: community.CommunityUpdated, meta: EventMeta) -> ie.CommunityUpdated:
    return ie.CommunityUpdated(meta, m.community_id, m.visibility)


def _member_joined(m: community.MemberJoined, meta: EventMeta) -> ie.MemberJoined:
    return ie.MemberJoined(meta, m.community_id, m.member_id, m.role, m.region, m.programme)


def _role_granted(m: community.RoleGranted, meta: EventMeta) -> ie.RoleGranted:
    return ie.RoleGranted(meta, m.community_id, m.member_id, m.role, m.previous_role, m.region, m.programme)


def _role_revoked(m: community.RoleRevoked, meta: EventMeta) -> ie.RoleRevoked:
    return ie.RoleRevoked(meta, m.community_id, m.member_id, m.role, m.current_role, m.region, m.programme)


def _member_left(m: community.MemberLeft, meta: EventMeta) -> ie.MemberLeft:
    return ie.MemberLeft(meta, m.community_id, m.member_id)


def _pilot_control_set(m: community.PilotControlSet, meta: EventMeta) -> ie.PilotControlSet:
    return ie.PilotControlSet(
        meta, m.community_id, m.control_community_id, tuple(m.control_member_ids), m.version
    )


def _survey_response_submitted(
    m: community.SurveyResponseSubmitted, meta: EventMeta
) -> ie.SurveyResponseSubmitted:
    return ie.SurveyResponseSubmitted(meta, m.survey_id, m.community_id, m.member_id)


def _points_changed(m: reputation.PointsChanged, meta: EventMeta) -> ie.PointsChanged:
    return ie.PointsChanged(
        meta, m.entry_id, m.community_id, m.member_id, _time(m.time, m.HasField("time"), meta)
    )


DECODERS: Decoders = {
    "guild.content.post_created.v1": Decoder(
        content.PostCreated, ie.PostCreated, _post_created, required=("post_id",)
    ),
    "guild.content.resource_shared.v1": Decoder(
        content.ResourceShared,
        ie.ResourceShared,
        _resource_shared,
        required=("resource_id", "community_id", "author_id"),
    ),
    "guild.content.question_asked.v1": Decoder(
        content.QuestionAsked,
        ie.QuestionAsked,
        _question_asked,
        required=("question_id", "community_id", "author_id"),
    ),
    "guild.content.answer_posted.v1": Decoder(
        content.AnswerPosted,
        ie.AnswerPosted,
        _answer_posted,
        required=("answer_id", "question_id", "community_id", "author_id"),
    ),
    "guild.content.answer_accepted.v1": Decoder(
        content.AnswerAccepted,
        ie.AnswerAccepted,
        _answer_accepted,
        required=("answer_id", "community_id", "answer_author_id"),
    ),
    "guild.content.answer_unaccepted.v1": Decoder(
        content.AnswerUnaccepted,
        ie.AnswerUnaccepted,
        _answer_unaccepted,
        required=("answer_id", "community_id", "answer_author_id"),
    ),
    "guild.content.vote_changed.v1": Decoder(
        content.VoteChanged,
        ie.VoteChanged,
        _vote_changed,
        required=("target_id", "community_id", "voter_id", "target_author_id"),
    ),
    "guild.content.post_removed.v1": Decoder(
        content.PostRemoved,
        ie.PostRemoved,
        _post_removed,
        required=("post_id", "community_id", "author_id"),
    ),
    "guild.content.collection_followed.v1": Decoder(
        content.CollectionFollowed,
        ie.CollectionFollowed,
        _collection_followed,
        required=("collection_id", "community_id", "curator_id", "follower_id"),
    ),
    "guild.content.item_rated.v1": Decoder(
        content.ItemRated, ie.ItemRated, _item_rated, required=("item_id", "author_id")
    ),
    "guild.content.comment_posted.v1": Decoder(
        content.CommentPosted,
        ie.CommentPosted,
        _comment_posted,
        required=("comment_id", "community_id", "author_id"),
    ),
    "guild.content.collection_published.v1": Decoder(
        content.CollectionPublished,
        ie.CollectionPublished,
        _collection_published,
        required=("collection_id", "community_id", "curator_id"),
    ),
    "guild.community.community_created.v1": Decoder(
        community.CommunityCreated, ie.CommunityCreated, _community_created, required=("community_id",)
    ),
    "guild.community.community_updated.v1": Decoder(
        community.CommunityUpdated, ie.CommunityUpdated, _community_updated, required=("community_id",)
    ),
    "guild.community.member_joined.v1": Decoder(
        community.MemberJoined, ie.MemberJoined, _member_joined, required=("community_id", "member_id")
    ),
    "guild.community.role_granted.v1": Decoder(
        community.RoleGranted,
        ie.RoleGranted,
        _role_granted,
        required=("community_id", "member_id", "role"),
    ),
    "guild.community.role_revoked.v1": Decoder(
        community.RoleRevoked,
        ie.RoleRevoked,
        _role_revoked,
        required=("community_id", "member_id", "role"),
    ),
    "guild.community.member_left.v1": Decoder(
        community.MemberLeft, ie.MemberLeft, _member_left, required=("community_id", "member_id")
    ),
    "guild.community.pilot_control_set.v1": Decoder(
        community.PilotControlSet, ie.PilotControlSet, _pilot_control_set, required=("community_id",)
    ),
    "guild.community.survey_response_submitted.v1": Decoder(
        community.SurveyResponseSubmitted,
        ie.SurveyResponseSubmitted,
        _survey_response_submitted,
        required=("survey_id", "community_id", "member_id"),
    ),
}

#: Every replica's ledger entries, which this process's boards follow (``entrypoints.points_stream``, an
#: ephemeral subscription rather than a durable consumer, so not among ``DECODERS``).
POINTS_CHANGED = Decoder(
    reputation.PointsChanged,
    ie.PointsChanged,
    _points_changed,
    required=("entry_id", "community_id", "member_id"),
)
