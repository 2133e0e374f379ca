"""Every domain event content publishes."""

from __future__ import annotations

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

DomainEvent = (
    QuestionAsked
    | PostCreated
    | AnswerPosted
    | AnswerAccepted
    | AnswerUnaccepted
    | VoteChanged
    | CommentPosted
    | PostEdited
    | PostRemoved
    | PostFlagged
    | PostHidden
    | PostRestored
    | PostLocked
    | MentionMade
    | ResourceShared
    | ItemRated
    | ItemMarkedOutdated
)
