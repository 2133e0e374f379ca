"""The events notify consumes, decoded from their protobuf payloads into ``domain.integration_events``.

Learning records (``entrypoints.learning_events``) and webhooks read the CloudEvent itself."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.events.inbound import Decoder, Decoders
from guild_common.events.meta import EventMeta
from guild_notify.domain import integration_events as ie


def _time(payload: Message, field: str, meta: EventMeta) -> datetime:
    """The payload's own time when it carries one, else the time the event was written."""
    if payload.HasField(field):
        stamp = getattr(payload, field)
        return datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, tz=UTC)
    return meta.time


def _answer_posted(m: content.AnswerPosted, meta: EventMeta) -> ie.AnswerPosted:
    return ie.AnswerPosted(
        meta=meta,
        question_id=m.question_id,
        question_title=m.question_title,
        question_author_id=m.question_author_id,
        author_id=m.author_id,
        community_id=m.community_id,
        answer_id=m.answer_id,
    )


def _answer_accepted(m: content.AnswerAccepted, meta: EventMeta) -> ie.AnswerAccepted:
    return ie.AnswerAccepted(
        meta=meta,
        question_id=m.question_id,
        question_title=m.question_title,
        answer_author_id=m.answer_author_id,
        accepted_by=m.accepted_by,
        community_id=m.community_id,
    )


def _vote_changed(m: content.VoteChanged, meta: EventMeta) -> ie.VoteChanged:
    return ie.VoteChanged(
        meta=meta,
        target_kind=m.target_kind,
        target_id=m.target_id,
        community_id=m.community_id,
        target_author_id=m.target_author_id,
        voter_id=m.voter_id,
        previous_value=int(m.previous_value),
        value=int(m.value),
        score=int(m.score),
    )


def _post_removed(m: content.PostRemoved, meta: EventMeta) -> ie.PostRemoved:
    return ie.PostRemoved(
        meta=meta,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
        removed_by=m.removed_by,
        reason=m.reason,
        by_moderator=bool(m.by_moderator),
    )


def _post_hidden(m: content.PostHidden, meta: EventMeta) -> ie.PostHidden:
    return ie.PostHidden(
        meta=meta,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
        hidden_by=m.hidden_by,
        reason=m.reason,
        by_flags=bool(m.by_flags),
        flag_count=int(m.flag_count),
    )


def _post_restored(m: content.PostRestored, meta: EventMeta) -> ie.PostRestored:
    return ie.PostRestored(
        meta=meta,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
        restored_by=m.restored_by,
        reason=m.reason,
    )


def _comment_posted(m: content.CommentPosted, meta: EventMeta) -> ie.CommentPosted:
    return ie.CommentPosted(
        meta=meta,
        post_id=m.post_id,
        post_kind=m.post_kind,
        community_id=m.community_id,
        post_author_id=m.post_author_id,
        author_id=m.author_id,
    )


def _mention_made(m: content.MentionMade, meta: EventMeta) -> ie.MentionMade:
    return ie.MentionMade(
        meta=meta,
        mentioned_id=m.mentioned_id,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
    )


def _post_flagged(m: content.PostFlagged, meta: EventMeta) -> ie.PostFlagged:
    return ie.PostFlagged(
        meta=meta,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
        reason=m.reason,
        flag_count=int(m.flag_count),
    )


def _resource_shared(m: content.ResourceShared, meta: EventMeta) -> ie.ResourceShared:
    return ie.ResourceShared(
        meta=meta,
        resource_id=m.resource_id,
        community_id=m.community_id,
        author_id=m.author_id,
        title=m.title,
    )


def _post_created(m: content.PostCreated, meta: EventMeta) -> ie.PostCreated:
    return ie.PostCreated(
        meta=meta,
        post_id=m.post_id,
        kind=m.kind,
        community_id=m.community_id,
        author_id=m.author_id,
        title=m.title,
    )


def _question_asked(m: content.QuestionAsked, meta: EventMeta) -> ie.QuestionAsked:
    return ie.QuestionAsked(
        meta=meta,
        question_id=m.question_id,
        community_id=m.community_id,
        title=m.title,
        author_id=m.author_id,
        tags=tuple(m.tags),
        create_time=_time(m, "create_time", meta),
    )


def _tag_followed(m: content.TagFollowed, meta: EventMeta) -> ie.TagFollowed:
    return ie.TagFollowed(
        meta=meta, member_id=m.member_id, tag=m.tag, follow_time=_time(m, "follow_time", meta)
    )


def _tag_unfollowed(m: content.TagUnfollowed, meta: EventMeta) -> ie.TagUnfollowed:
    return ie.TagUnfollowed(
        meta=meta, member_id=m.member_id, tag=m.tag, unfollow_time=_time(m, "unfollow_time", meta)
    )


def _member_joined(m: community.MemberJoined, meta: EventMeta) -> ie.MemberJoined:
    return ie.MemberJoined(meta=meta, community_id=m.community_id, member_id=m.member_id, role=m.role)


def _member_left(m: community.MemberLeft, meta: EventMeta) -> ie.MemberLeft:
    return ie.MemberLeft(meta=meta, community_id=m.community_id, member_id=m.member_id)


def _role_granted(m: community.RoleGranted, meta: EventMeta) -> ie.RoleGranted:
    return ie.RoleGranted(
        meta=meta, community_id=m.community_id, member_id=m.member_id, role=m.role, granted_by=m.granted_by
    )


def _role_revoked(m: community.RoleRevoked, meta: EventMeta) -> ie.RoleRevoked:
    return ie.RoleRevoked(
        meta=meta, community_id=m.community_id, member_id=m.member_id, current_role=m.current_role
    )


def _join_requested(m: community.JoinRequested, meta: EventMeta) -> ie.JoinRequested:
    return ie.JoinRequested(meta=meta, community_id=m.community_id, member_id=m.member_id)


def _survey_opened(m: community.SurveyOpened, meta: EventMeta) -> ie.SurveyOpened:
    return ie.SurveyOpened(
        meta=meta, survey_id=m.survey_id, community_id=m.community_id, opened_by=m.opened_by, title=m.title
    )


def _profile_updated(m: community.ProfileUpdated, meta: EventMeta) -> ie.ProfileUpdated:
    return ie.ProfileUpdated(
        meta=meta,
        member_id=m.member_id,
        expertise=tuple(m.expertise),
        update_time=_time(m, "update_time", meta),
    )


def _badge_awarded(m: reputation.BadgeAwarded, meta: EventMeta) -> ie.BadgeAwarded:
    return ie.BadgeAwarded(
        meta=meta,
        award_id=m.award_id,
        community_id=m.community_id,
        member_id=m.member_id,
        badge=m.badge,
        title=m.title,
        citation=m.citation,
        granted_by=m.granted_by,
    )


DECODERS: Decoders = {
    "guild.content.answer_posted.v1": Decoder(content.AnswerPosted, ie.AnswerPosted, _answer_posted),
    "guild.content.answer_accepted.v1": Decoder(content.AnswerAccepted, ie.AnswerAccepted, _answer_accepted),
    "guild.content.vote_changed.v1": Decoder(content.VoteChanged, ie.VoteChanged, _vote_changed),
    "guild.content.post_removed.v1": Decoder(content.PostRemoved, ie.PostRemoved, _post_removed),
    "guild.content.post_hidden.v1": Decoder(content.PostHidden, ie.PostHidden, _post_hidden),
    "guild.content.post_restored.v1": Decoder(content.PostRestored, ie.PostRestored, _post_restored),
    "guild.content.comment_posted.v1": Decoder(content.CommentPosted, ie.CommentPosted, _comment_posted),
    "guild.content.mention_made.v1": Decoder(content.MentionMade, ie.MentionMade, _mention_made),
    "guild.content.post_flagged.v1": Decoder(content.PostFlagged, ie.PostFlagged, _post_flagged),
    "guild.content.resource_shared.v1": Decoder(content.ResourceShared, ie.ResourceShared, _resource_shared),
    "guild.content.post_created.v1": Decoder(content.PostCreated, ie.PostCreated, _post_created),
    "guild.content.question_asked.v1": Decoder(content.QuestionAsked, ie.QuestionAsked, _question_asked),
    "guild.content.tag_followed.v1": Decoder(content.TagFollowed, ie.TagFollowed, _tag_followed),
    "guild.content.tag_unfollowed.v1": Decoder(content.TagUnfollowed, ie.TagUnfollowed, _tag_unfollowed),
    "guild.community.member_joined.v1": Decoder(community.MemberJoined, ie.MemberJoined, _member_joined),
    "guild.community.member_left.v1": Decoder(community.MemberLeft, ie.MemberLeft, _member_left),
    "guild.community.role_granted.v1": Decoder(community.RoleGranted, ie.RoleGranted, _role_granted),
    "guild.community.role_revoked.v1": Decoder(community.RoleRevoked, ie.RoleRevoked, _role_revoked),
    "guild.community.join_requested.v1": Decoder(community.JoinRequested, ie.JoinRequested, _join_requested),
    "guild.community.survey_opened.v1": Decoder(community.SurveyOpened, ie.SurveyOpened, _survey_opened),
    "guild.community.profile_updated.v1": Decoder(
        community.ProfileUpdated, ie.ProfileUpdated, _profile_updated
    ),
    "guild.reputation.badge_awarded.v1": Decoder(reputation.BadgeAwarded, ie.BadgeAwarded, _badge_awarded),
}
