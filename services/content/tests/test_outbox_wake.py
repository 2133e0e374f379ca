"""Each write wakes the outbox relay naming the document that holds its events.

The relay here sweeps every outbox collection in full only at start and then once an hour: an event
reaches NATS within seconds only if its write named the right collection and ``_id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.field_mask_pb2 import FieldMask

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild_testing.fixtures import auth
from guild_testing.streams import Seen, await_events

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def test_every_kind_of_write_publishes_its_events_by_the_document_it_names(suite: Suite) -> None:
    content = suite.content
    seen: Seen = set()

    async def published(*events: tuple[str, str]) -> None:
        """Wait for the events of the last write: a later write to the same document cannot stand in."""
        await await_events(suite.infra.nats_url, "GUILD_CONTENT", set(events), seen)
        assert set(events) - seen == set()

    # Once an unfollow's event arrives, the sweep at start has read every collection (tag unfollows
    # come last): what follows is published only by the documents the writes name.
    await content.FollowTag(api.FollowTagRequest(tag="warm-up"), metadata=auth("zed"))
    await content.UnfollowTag(api.UnfollowTagRequest(tag="warm-up"), metadata=auth("zed"))
    await published(("tag_unfollowed", "zed:warm-up"))

    question = await suite.ask("ann")
    await published(("question_asked", question.id))
    answer = await suite.answer(question.id, "bob")
    await published(("answer_posted", answer.id))
    await content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
    )
    await published(("answer_accepted", answer.id))
    await content.CastVote(
        api.CastVoteRequest(target_id=question.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("bob")
    )
    await content.CastVote(
        api.CastVoteRequest(target_id=answer.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("ann")
    )
    await published(("vote_changed", question.id), ("vote_changed", answer.id))
    comments = []
    for body in ("Thanks, found it.", "Which portal?"):
        added: api.AddCommentResponse = await content.AddComment(
            api.AddCommentRequest(post_id=answer.id, body=body), metadata=auth("ann")
        )
        comments.append(added.comment.id)
    await published(*(("comment_posted", c) for c in comments))
    await content.EditPost(
        api.EditPostRequest(
            post_id=question.id, body="Where is the leave form kept?", update_mask=FieldMask(paths=["body"])
        ),
        metadata=auth("ann"),
    )
    await published(("post_edited", question.id))
    await content.FlagPost(
        api.FlagPostRequest(post_id=comments[0], reason=api.FLAG_REASON_OFF_TOPIC), metadata=auth("bob")
    )
    await published(("post_flagged", comments[0]))
    await content.DeletePost(api.DeletePostRequest(post_id=comments[1]), metadata=auth("ann"))
    await published(("post_removed", comments[1]))
    await content.ModeratePost(
        api.ModeratePostRequest(post_id=question.id, action=api.MODERATION_ACTION_LOCK, reason="answered"),
        metadata=auth("olivia"),
    )
    await published(("post_locked", question.id))

    shared: api.ShareResourceResponse = await content.ShareResource(
        api.ShareResourceRequest(
            community_id=suite.community_id,
            url="https://learn.example.com/leave/",
            title="Leave policy",
            media_type="article",
        ),
        metadata=auth("ann"),
    )
    resource_id = shared.resource.id
    await published(("resource_shared", resource_id))
    await content.RateItem(api.RateItemRequest(item_id=resource_id, stars=4), metadata=auth("bob"))
    await published(("item_rated", resource_id))
    await content.MarkOutdated(api.MarkOutdatedRequest(resource_id=resource_id), metadata=auth("bob"))
    await published(("item_marked_outdated", resource_id))

    created: api.CreateCollectionResponse = await content.CreateCollection(
        api.CreateCollectionRequest(community_id=suite.community_id, title="First week"),
        metadata=auth("olivia"),
    )
    collection_id = created.collection.id
    await content.AddCollectionItem(
        api.AddCollectionItemRequest(collection_id=collection_id, post_id=question.id),
        metadata=auth("olivia"),
    )
    await content.PublishCollection(
        api.PublishCollectionRequest(collection_id=collection_id), metadata=auth("olivia")
    )
    await published(("collection_published", collection_id))
    await content.FollowCollection(
        api.FollowCollectionRequest(collection_id=collection_id), metadata=auth("bob")
    )
    await published(("collection_followed", collection_id))
    await content.FeatureItem(
        api.FeatureItemRequest(community_id=suite.community_id, item_kind="post", item_id=question.id),
        metadata=auth("olivia"),
    )
    await published(("item_featured", question.id))
    await content.FollowTag(api.FollowTagRequest(tag="leave"), metadata=auth("ann"))
    await published(("tag_followed", "ann:leave"))
    await content.UnfollowTag(api.UnfollowTagRequest(tag="leave"), metadata=auth("ann"))
    await published(("tag_unfollowed", "ann:leave"))
