"""Domain events of the content service as CloudEvents envelopes with protobuf payloads.

Over 400 lines: one ``match`` of every event content publishes (each a few lines of mapping), kept
whole so the published contract reads in one place."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from guild.events.v1 import content_events_pb2 as pb
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import traced_envelope
from guild_common.prototime import to_timestamp as _ts
from guild_content.domain.community import CommunityView
from guild_content.domain.curation import CollectionFollowed, CollectionPublished, CurationEvent, ItemFeatured
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.events import DomainEvent
from guild_content.domain.feeds import MemberEvent, TagFollowed, TagUnfollowed
from guild_content.domain.moderation import PostFlagged, PostHidden, PostLocked, PostRestored
from guild_content.domain.posts import MentionMade, PostEdited, PostRemoved, VoteChanged
from guild_content.domain.questions import (
    AnswerAccepted,
    AnswerPosted,
    AnswerUnaccepted,
    CommentPosted,
    PostCreated,
    QuestionAsked,
)
from guild_content.domain.resources import ItemMarkedOutdated, ItemRated, ResourceShared

SERVICE = "content"
# Region and programme of events about a member rather than a community (tag follows).
GLOBAL = "global"


def _payload(event: DomainEvent | CurationEvent) -> tuple[str, str, Message]:
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
        case PostCreated(post=p):
            return (
                "post_created",
                p.id,
                pb.PostCreated(
                    post_id=p.id,
                    kind=p.kind,
                    community_id=p.community_id,
                    author_id=p.author_id,
                    title=p.title,
                    tags=p.tags,
                    create_time=_ts(p.create_time),
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
                    question_tags=q.tags,
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
                    question_tags=q.tags,
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
        case VoteChanged(
            target=t,
            voter_id=voter,
            previous_value=prev,
            value=value,
            score=score,
            time=time,
            question_tags=tags,
        ):
            return (
                "vote_changed",
                t.id,
                pb.VoteChanged(
                    target_kind=t.kind,
                    target_id=t.id,
                    question_id=t.question_id,
                    community_id=t.community_id,
                    voter_id=voter,
                    target_author_id=t.author_id,
                    previous_value=prev,
                    value=value,
                    score=score,
                    vote_time=_ts(time),
                    question_tags=tags,
                ),
            )
        case CommentPosted(comment=c, post=post):
            return (
                "comment_posted",
                c.id,
                pb.CommentPosted(
                    comment_id=c.id,
                    post_id=post.id,
                    post_kind=post.kind,
                    question_id=post.question_id,
                    community_id=post.community_id,
                    author_id=c.author_id,
                    post_author_id=post.author_id,
                    create_time=_ts(c.create_time),
                ),
            )
        case PostEdited(post=post, editor_id=editor, revision=revision, time=time):
            return (
                "post_edited",
                post.id,
                pb.PostEdited(
                    post_id=post.id,
                    kind=post.kind,
                    question_id=post.question_id,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    editor_id=editor,
                    revision=revision,
                    edit_time=_ts(time),
                ),
            )
        case PostRemoved(post=post, removed_by=by, reason=reason, by_moderator=by_moderator, time=time):
            return (
                "post_removed",
                post.id,
                pb.PostRemoved(
                    post_id=post.id,
                    kind=post.kind,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    removed_by=by,
                    reason=reason,
                    by_moderator=by_moderator,
                    remove_time=_ts(time),
                ),
            )
        case PostFlagged(post=post, reason=reason, flag_count=count, time=time):
            return (
                "post_flagged",
                post.id,
                pb.PostFlagged(
                    post_id=post.id,
                    kind=post.kind,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    reason=reason,
                    flag_count=count,
                    flag_time=_ts(time),
                ),
            )
        case PostHidden(
            post=post, hidden_by=by, reason=reason, by_flags=by_flags, flag_count=count, time=time
        ):
            return (
                "post_hidden",
                post.id,
                pb.PostHidden(
                    post_id=post.id,
                    kind=post.kind,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    hidden_by=by,
                    reason=reason,
                    by_flags=by_flags,
                    flag_count=count,
                    hide_time=_ts(time),
                ),
            )
        case PostRestored(post=post, restored_by=by, reason=reason, time=time):
            return (
                "post_restored",
                post.id,
                pb.PostRestored(
                    post_id=post.id,
                    kind=post.kind,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    restored_by=by,
                    reason=reason,
                    restore_time=_ts(time),
                ),
            )
        case PostLocked(post=post, locked_by=by, reason=reason, locked=locked, time=time):
            return (
                "post_locked",
                post.id,
                pb.PostLocked(
                    post_id=post.id,
                    kind=post.kind,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    locked_by=by,
                    reason=reason,
                    locked=locked,
                    lock_time=_ts(time),
                ),
            )
        case MentionMade(mentioned_id=member, post=post, time=time):
            return (
                "mention_made",
                post.id,
                pb.MentionMade(
                    mentioned_id=member,
                    post_id=post.id,
                    kind=post.kind,
                    question_id=post.question_id,
                    community_id=post.community_id,
                    author_id=post.author_id,
                    mention_time=_ts(time),
                ),
            )
        case ResourceShared(resource=r):
            return (
                "resource_shared",
                r.id,
                pb.ResourceShared(
                    resource_id=r.id,
                    community_id=r.community_id,
                    author_id=r.author_id,
                    url=r.url,
                    title=r.title,
                    media_type=r.media_type,
                    tags=r.tags,
                    create_time=_ts(r.create_time),
                ),
            )
        case ItemRated(item=item, rater_id=rater, stars=stars, previous_stars=prev, rating=rating, time=time):
            return (
                "item_rated",
                item.id,
                pb.ItemRated(
                    item_id=item.id,
                    item_kind=item.kind,
                    community_id=item.community_id,
                    author_id=item.author_id,
                    rater_id=rater,
                    stars=stars,
                    previous_stars=prev,
                    average=rating.average,
                    count=rating.count,
                    rate_time=_ts(time),
                ),
            )
        case ItemMarkedOutdated(item=item, member_id=member, outdated_count=count, time=time):
            return (
                "item_marked_outdated",
                item.id,
                pb.ItemMarkedOutdated(
                    item_id=item.id,
                    item_kind=item.kind,
                    community_id=item.community_id,
                    author_id=item.author_id,
                    member_id=member,
                    outdated_count=count,
                    mark_time=_ts(time),
                ),
            )
        case CollectionPublished(collection=c, time=time):
            return (
                "collection_published",
                c.id,
                pb.CollectionPublished(
                    collection_id=c.id,
                    community_id=c.community_id,
                    curator_id=c.curator_id,
                    title=c.title,
                    item_count=len(c.items),
                    publish_time=_ts(time),
                    item_post_ids=[item.post_id for item in c.items if item.post_id],
                ),
            )
        case CollectionFollowed(collection=c, follower_id=follower, follower_count=count, time=time):
            return (
                "collection_followed",
                c.id,
                pb.CollectionFollowed(
                    collection_id=c.id,
                    community_id=c.community_id,
                    curator_id=c.curator_id,
                    follower_id=follower,
                    follower_count=count,
                    follow_time=_ts(time),
                ),
            )
        case ItemFeatured(feature=f):
            return (
                "item_featured",
                f.item_id,
                pb.ItemFeatured(
                    community_id=f.community_id,
                    item_kind=f.item_kind,
                    item_id=f.item_id,
                    title=f.title,
                    author_id=f.author_id,
                    featured_by=f.featured_by,
                    feature_time=_ts(f.feature_time),
                ),
            )
        case DuplicateMarked(question=q, duplicate_of=original, by=by, marked=True, time=time):
            return (
                "question_marked_duplicate",
                q.id,
                pb.QuestionMarkedDuplicate(
                    question_id=q.id,
                    community_id=q.community_id,
                    author_id=q.author_id,
                    duplicate_of=original,
                    marked_by=by,
                    mark_time=_ts(time),
                ),
            )
        case DuplicateMarked(question=q, duplicate_of=original, by=by, time=time):
            return (
                "question_unmarked_duplicate",
                q.id,
                pb.QuestionUnmarkedDuplicate(
                    question_id=q.id,
                    community_id=q.community_id,
                    author_id=q.author_id,
                    duplicate_of=original,
                    unmarked_by=by,
                    unmark_time=_ts(time),
                ),
            )
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover


def member_envelope(event: MemberEvent) -> Envelope:
    """A member's own event: no community, so region and programme are ``global``."""
    payload: Message
    match event:
        case TagFollowed(member_id=member, tag=tag, time=time):
            name = "tag_followed"
            payload = pb.TagFollowed(member_id=member, tag=tag, follow_time=_ts(time))
        case TagUnfollowed(member_id=member, tag=tag, time=time):
            name = "tag_unfollowed"
            payload = pb.TagUnfollowed(member_id=member, tag=tag, unfollow_time=_ts(time))
    return traced_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=f"{event.member_id}:{event.tag}",
        region=GLOBAL,
        programme=GLOBAL,
    )


def to_envelopes(events: Sequence[DomainEvent | CurationEvent], community: CommunityView) -> list[Envelope]:
    envelopes = []
    for event in events:
        name, subject, payload = _payload(event)
        envelopes.append(
            traced_envelope(
                service=SERVICE,
                name=name,
                payload=payload,
                subject=subject,
                region=community.region,
                programme=community.programme,
            )
        )
    return envelopes
