"""ContentService messages to and from the domain's values and the use cases' answers."""

from __future__ import annotations

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import curation_pb2 as curation_pb
from guild.content.v1 import feed_pb2, post_pb2
from guild.content.v1 import question_pb2 as pb
from guild.content.v1 import resource_pb2 as resource_pb
from guild_common.prototime import to_timestamp as _ts
from guild_content.app.ports import FeedEntry, PostHit, SearchHit
from guild_content.domain.curation import Collection, CollectionItem, Feature
from guild_content.domain.posts import Revision
from guild_content.domain.questions import Answer, Comment, Question
from guild_content.domain.resources import RatingSummary, Resource


def question_to_pb(q: Question) -> pb.Question:
    return pb.Question(
        id=q.id,
        community_id=q.community_id,
        author_id=q.author_id,
        title=q.title,
        body=q.body,
        tags=q.tags,
        create_time=_ts(q.create_time),
        answer_count=q.answer_count,
        accepted_answer_id=q.accepted_answer_id,
        score=q.score,
        update_time=_ts(q.update_time) if q.update_time else None,
        duplicate_of=q.duplicate_of,
    )


def answer_to_pb(a: Answer, accepted_answer_id: str) -> pb.Answer:
    return pb.Answer(
        id=a.id,
        question_id=a.question_id,
        community_id=a.community_id,
        author_id=a.author_id,
        body=a.body,
        create_time=_ts(a.create_time),
        accepted=a.id == accepted_answer_id,
        score=a.score,
        update_time=_ts(a.update_time) if a.update_time else None,
    )


def comment_to_pb(c: Comment) -> pb.Comment:
    return pb.Comment(
        id=c.id,
        post_id=c.post_id,
        post_kind=c.post_kind,
        question_id=c.question_id,
        community_id=c.community_id,
        author_id=c.author_id,
        body=c.body,
        create_time=_ts(c.create_time),
        update_time=_ts(c.update_time) if c.update_time else None,
    )


def revision_to_pb(r: Revision) -> pb.Revision:
    return pb.Revision(
        post_id=r.post_id,
        revision=r.number,
        editor_id=r.editor_id,
        edit_time=_ts(r.edit_time),
        title=r.text.title,
        body=r.text.body,
        tags=r.text.tags,
    )


FLAG_REASON = {
    api.FLAG_REASON_SPAM: "spam",
    api.FLAG_REASON_OFFENSIVE: "offensive",
    api.FLAG_REASON_OFF_TOPIC: "off_topic",
    api.FLAG_REASON_OTHER: "other",
}
ACTION = {
    api.MODERATION_ACTION_HIDE: "hide",
    api.MODERATION_ACTION_RESTORE: "restore",
    api.MODERATION_ACTION_LOCK: "lock",
    api.MODERATION_ACTION_UNLOCK: "unlock",
    api.MODERATION_ACTION_DELETE: "delete",
}
ANSWERED = {api.ANSWERED_FILTER_ANSWERED: True, api.ANSWERED_FILTER_UNANSWERED: False}
VOTE_VALUE = {pb.VOTE_DIRECTION_UP: 1, pb.VOTE_DIRECTION_DOWN: -1}


FEED_ORDER = {
    feed_pb2.FEED_ORDER_UNSPECIFIED: "newest",
    feed_pb2.FEED_ORDER_RECENT_ACTIVITY: "activity",
    feed_pb2.FEED_ORDER_TOP_WEEK: "top_week",
    feed_pb2.FEED_ORDER_TOP_MONTH: "top_month",
}


def feed_item_to_pb(entry: FeedEntry) -> feed_pb2.FeedItem:
    item = feed_pb2.FeedItem(activity_time=_ts(entry.activity_time))
    if entry.post is not None:
        item.post.CopyFrom(post_to_pb(entry.post))
    elif entry.resource is not None:
        item.resource.CopyFrom(resource_to_pb(entry.resource))
    return item


def post_to_pb(p: Question) -> post_pb2.Post:
    return post_pb2.Post(
        id=p.id,
        kind=p.kind,
        community_id=p.community_id,
        author_id=p.author_id,
        title=p.title,
        body=p.body,
        tags=p.tags,
        create_time=_ts(p.create_time),
        update_time=_ts(p.update_time) if p.update_time else None,
        score=p.score,
        answer_count=p.answer_count,
        accepted_answer_id=p.accepted_answer_id,
        hidden=p.hidden,
        locked=p.locked,
    )


def item_to_pb(i: CollectionItem) -> curation_pb.CollectionItem:
    return curation_pb.CollectionItem(
        id=i.id,
        kind=i.kind,
        post_id=i.post_id,
        url=i.url,
        title=i.title,
        note=i.note,
        position=i.position,
        add_time=_ts(i.add_time),
    )


def collection_to_pb(c: Collection) -> curation_pb.Collection:
    return curation_pb.Collection(
        id=c.id,
        community_id=c.community_id,
        curator_id=c.curator_id,
        title=c.title,
        description=c.description,
        items=[item_to_pb(i) for i in c.items],
        published=c.published,
        publish_time=_ts(c.publish_time) if c.publish_time else None,
        create_time=_ts(c.create_time),
        update_time=_ts(c.update_time) if c.update_time else None,
        follower_count=c.follower_count,
    )


def feature_to_pb(f: Feature) -> curation_pb.FeaturedItem:
    return curation_pb.FeaturedItem(
        community_id=f.community_id,
        item_kind=f.item_kind,
        item_id=f.item_id,
        title=f.title,
        author_id=f.author_id,
        featured_by=f.featured_by,
        feature_time=_ts(f.feature_time),
    )


def rating_to_pb(rating: RatingSummary) -> resource_pb.RatingSummary:
    return resource_pb.RatingSummary(
        average=rating.average, count=rating.count, distribution=list(rating.distribution)
    )


def resource_to_pb(r: Resource) -> resource_pb.Resource:
    return resource_pb.Resource(
        id=r.id,
        community_id=r.community_id,
        author_id=r.author_id,
        url=r.url,
        title=r.title,
        summary=r.summary,
        media_type=r.media_type,
        tags=r.tags,
        create_time=_ts(r.create_time),
        rating=rating_to_pb(r.rating),
        outdated_count=r.outdated_count,
    )


def hit_to_pb(hit: SearchHit, question: pb.Question | None = None) -> api.SearchHit:
    """The hit; ``question``: its question converted already."""
    converted = question or question_to_pb(hit.question)
    return api.SearchHit(
        question=converted,
        relevance=hit.relevance,
        matched_terms=hit.matched_terms,
        similarity=hit.similarity,
    )


def post_hit_to_pb(hit: PostHit) -> api.PostSearchHit:
    found = api.PostSearchHit(relevance=hit.relevance, matched_terms=hit.matched_terms)
    if hit.post is not None:
        found.post.CopyFrom(post_to_pb(hit.post))
    elif hit.resource is not None:
        found.resource.CopyFrom(resource_to_pb(hit.resource))
    return found
