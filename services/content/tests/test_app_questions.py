"""Questions, answers, votes, comments, edits and deletions on in-memory ports: validation, who may do
what where, idempotent retries, paging, and the events each command publishes (none when refused)."""

from __future__ import annotations

import asyncio

import pytest
from services.content.tests.memory import World, memory_world, who

from guild_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from guild_content.domain.community import Role
from guild_content.domain.posts import MentionMade, PostRemoved, Text, VoteChanged
from guild_content.domain.questions import AnswerUnaccepted, Question

ANN, BOB, CAT, MOD, OUT = (who(s) for s in ("ann", "bob", "cat", "mod", "out"))


@pytest.fixture
def world() -> World:
    world = memory_world()
    world.directory.add_community("c1")
    world.directory.add_community("secret", visibility="hidden")
    world.directory.add_community("old", lifecycle="archived")
    for community in ("c1", "secret", "old"):
        for member in ("ann", "bob", "cat"):
            world.directory.add_member(community, member)
        world.directory.add_member(community, "mod", Role.MODERATOR)
    return world


async def ask(world: World, title: str = "How do I book leave?", *, by: str = "ann", **kw: str) -> Question:
    community = kw.pop("community", "c1")
    return await world.questions.ask(
        who(by), community, title, kw.pop("body", "Where is the form?"), ["hr"], kw.pop("request_id", "")
    )


def names(world: World) -> list[str]:
    return list(world.names())


# --- asking ------------------------------------------------------------------------------------------


async def test_asking_stores_the_question_and_publishes_question_asked(world: World) -> None:
    question = await ask(world)
    assert names(world) == ["QuestionAsked"]
    stored, answers = await world.questions.get_question(ANN, question.id, 0)
    assert (stored.title, stored.author_id, stored.tags, answers) == (
        "How do I book leave?",
        "ann",
        ["hr"],
        [],
    )


async def test_asking_invalid_text_names_the_fields_and_publishes_nothing(world: World) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await world.questions.ask(ANN, "c1", "", "", ["x" * 80], "")
    assert {"title"} <= {v.field for v in raised.value.violations}
    with pytest.raises(InvalidArgument) as empty:
        await world.questions.ask(ANN, "", "Title here?", "", [], "")
    assert [v.field for v in empty.value.violations] == ["community_id"]
    assert world.events == []


async def test_asking_twice_with_one_request_id_stores_one_question(world: World) -> None:
    first = await ask(world, request_id="r1")
    again = await ask(world, request_id="r1")
    assert again.id == first.id
    assert names(world) == ["QuestionAsked"]
    other = await ask(world, by="bob", request_id="r1")  # another caller's request id is another request
    assert other.id != first.id


async def test_only_members_of_a_known_writable_community_may_ask(world: World) -> None:
    with pytest.raises(PermissionDenied) as outsider:
        await ask(world, by="out")
    assert outsider.value.reason == "NOT_A_MEMBER"
    with pytest.raises(NotFound) as unknown:
        await ask(world, community="nowhere")
    assert unknown.value.reason == "COMMUNITY_NOT_FOUND"
    with pytest.raises(FailedPrecondition) as archived:
        await ask(world, community="old")
    assert archived.value.reason == "COMMUNITY_ARCHIVED"
    assert world.events == []


async def test_a_hidden_community_does_not_exist_for_outsiders(world: World) -> None:
    question = await ask(world, community="secret")
    listed = await world.questions.list_questions(BOB, "secret", 10, "")
    assert [q.id for q in listed.items] == [question.id]
    for read in (
        world.questions.list_questions(OUT, "secret", 10, ""),
        world.questions.get_question(OUT, question.id, 0),
        world.questions.list_tags(OUT, "secret", 10, ""),
    ):
        with pytest.raises(NotFound) as raised:
            await read
        assert raised.value.reason == "COMMUNITY_NOT_FOUND"
    # an open community is readable by anyone
    await ask(world)
    assert len((await world.questions.list_questions(OUT, "c1", 10, "")).items) == 1


async def test_questions_page_newest_first_without_gaps_or_repeats(world: World) -> None:
    asked = [(await ask(world, f"Question number {i}?")).id for i in range(7)]
    seen: list[str] = []
    token = ""
    while True:
        page = await world.questions.list_questions(CAT, "c1", 3, token)
        assert len(page.items) <= 3
        seen += [q.id for q in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == list(reversed(asked))


async def test_page_size_and_kind_are_validated(world: World) -> None:
    with pytest.raises(InvalidArgument) as size:
        await world.questions.list_questions(ANN, "c1", -1, "")
    assert [v.field for v in size.value.violations] == ["page_size"]
    with pytest.raises(InvalidArgument) as kind:
        await world.questions.list_posts(ANN, "c1", "poem", 10, "")
    assert [v.field for v in kind.value.violations] == ["kind"]
    with pytest.raises(InvalidArgument):
        await world.questions.list_questions(ANN, "c1", 10, "forged")


async def test_mentions_reach_members_only_and_not_the_author(world: World) -> None:
    await ask(world, body="Ask @bob or @out, or @ann herself")
    mentions = [e for e in world.events if isinstance(e, MentionMade)]
    assert [m.mentioned_id for m in mentions] == ["bob"]
    assert names(world) == ["QuestionAsked", "MentionMade"]


async def test_announcements_are_for_moderators_other_kinds_for_members(world: World) -> None:
    with pytest.raises(PermissionDenied) as member:
        await world.questions.create_post(ANN, "c1", "announcement", "Office closed", "Friday", [], "")
    assert member.value.reason == "NOT_A_MODERATOR"
    with pytest.raises(InvalidArgument) as kind:
        await world.questions.create_post(ANN, "c1", "poem", "Ode", "to leave", [], "")
    assert [v.field for v in kind.value.violations] == ["kind"]
    notice = await world.questions.create_post(MOD, "c1", "announcement", "Office closed", "Friday", [], "")
    talk = await world.questions.create_post(ANN, "c1", "discussion", "Lunch spots", "Ideas?", [], "")
    question = await ask(world)
    assert names(world) == ["PostCreated", "PostCreated", "QuestionAsked"]
    posts = await world.questions.list_posts(BOB, "c1", "", 10, "")
    assert [p.id for p in posts.items] == [question.id, talk.id, notice.id]
    only = await world.questions.list_posts(BOB, "c1", "announcement", 10, "")
    assert [p.id for p in only.items] == [notice.id]
    assert [q.id for q in (await world.questions.list_questions(BOB, "c1", 10, "")).items] == [question.id]
    with pytest.raises(NotFound):
        await world.questions.answer(BOB, talk.id, "An answer to a discussion", "")


# --- answering and accepting -------------------------------------------------------------------------


async def test_answers_are_listed_oldest_first_and_counted(world: World) -> None:
    question = await ask(world)
    first = await world.questions.answer(BOB, question.id, "Use the HR portal.", "")
    second = await world.questions.answer(CAT, question.id, "Ask your manager.", "")
    stored, answers = await world.questions.get_question(ANN, question.id, 10)
    assert stored.answer_count == 2
    assert [a.id for a in answers] == [first.id, second.id]
    assert names(world) == ["QuestionAsked", "AnswerPosted", "AnswerPosted"]


async def test_an_answer_retried_is_stored_once_and_a_reused_request_id_is_refused(world: World) -> None:
    question = await ask(world)
    first = await world.questions.answer(BOB, question.id, "Use the HR portal.", "r1")
    again = await world.questions.answer(BOB, question.id, "Use the HR portal.", "r1")
    assert again.id == first.id
    with pytest.raises(InvalidArgument) as reused:
        await world.questions.answer(BOB, question.id, "Something else entirely.", "r1")
    assert [v.field for v in reused.value.violations] == ["request_id"]
    assert names(world) == ["QuestionAsked", "AnswerPosted"]
    assert (await world.questions.get_question(ANN, question.id, 10))[0].answer_count == 1


async def test_answering_needs_a_member_a_visible_question_and_no_lock(world: World) -> None:
    question = await ask(world)
    with pytest.raises(PermissionDenied):
        await world.questions.answer(OUT, question.id, "Outsider answer", "")
    with pytest.raises(NotFound) as missing:
        await world.questions.answer(BOB, "nope", "An answer", "")
    assert missing.value.reason == "QUESTION_NOT_FOUND"
    await world.moderation.moderate(MOD, question.id, "lock", "heated")
    with pytest.raises(FailedPrecondition) as locked:
        await world.questions.answer(BOB, question.id, "An answer", "")
    assert locked.value.reason == "POST_LOCKED"
    assert names(world) == ["QuestionAsked", "PostLocked"]


async def test_only_the_asker_or_a_moderator_accepts_and_switching_unaccepts_the_first(world: World) -> None:
    question = await ask(world)
    first = await world.questions.answer(BOB, question.id, "Use the HR portal.", "")
    second = await world.questions.answer(CAT, question.id, "Ask your manager.", "")
    with pytest.raises(PermissionDenied) as other:
        await world.questions.accept(BOB, question.id, first.id)
    assert other.value.reason == "NOT_ASKER"
    accepted = await world.questions.accept(ANN, question.id, first.id)
    assert accepted.accepted_answer_id == first.id
    await world.questions.accept(ANN, question.id, first.id)  # again: no change, no event
    await world.questions.accept(MOD, question.id, second.id)
    assert names(world)[3:] == ["AnswerAccepted", "AnswerUnaccepted", "AnswerAccepted"]
    unaccepted = next(e for e in world.events if isinstance(e, AnswerUnaccepted))
    assert (unaccepted.answer_id, unaccepted.answer_author_id, unaccepted.unaccepted_by) == (
        first.id,
        "bob",
        "mod",
    )
    assert await world.questions.accepted_answer_id(question.id) == second.id


async def test_accepting_an_answer_of_another_question_is_not_found(world: World) -> None:
    question = await ask(world)
    other = await ask(world, "Another question?")
    answer = await world.questions.answer(BOB, other.id, "Elsewhere.", "")
    with pytest.raises(NotFound) as raised:
        await world.questions.accept(ANN, question.id, answer.id)
    assert raised.value.reason == "ANSWER_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await world.questions.accept(ANN, question.id, "")


async def test_deleting_the_accepted_answer_withdraws_the_acceptance(world: World) -> None:
    question = await ask(world)
    answer = await world.questions.answer(BOB, question.id, "Use the HR portal.", "")
    await world.questions.accept(ANN, question.id, answer.id)
    await world.questions.delete(BOB, answer.id, "")
    assert names(world)[-2:] == ["PostRemoved", "AnswerUnaccepted"]
    stored, answers = await world.questions.get_question(ANN, question.id, 10)
    assert (stored.accepted_answer_id, stored.answer_count, answers) == ("", 0, [])


# --- votes -------------------------------------------------------------------------------------------


async def test_votes_count_once_per_member_and_retracting_takes_them_back(world: World) -> None:
    question = await ask(world)
    assert (await world.questions.vote(BOB, question.id, 1))[1] == 1
    assert (await world.questions.vote(BOB, question.id, 1))[1] == 1  # the same vote again: no change
    assert (await world.questions.vote(CAT, question.id, -1))[1] == 0
    assert (await world.questions.vote(BOB, question.id, 0))[1] == -1
    votes = [e for e in world.events if isinstance(e, VoteChanged)]
    assert [(v.voter_id, v.previous_value, v.value, v.score) for v in votes] == [
        ("bob", 0, 1, 1),
        ("cat", 0, -1, 0),
        ("bob", 1, 0, -1),
    ]
    assert votes[0].question_tags == ("hr",)


async def test_votes_on_answers_carry_their_questions_tags(world: World) -> None:
    question = await ask(world)
    answer = await world.questions.answer(BOB, question.id, "Use the HR portal.", "")
    target, score = await world.questions.vote(ANN, answer.id, 1)
    assert (target.kind, target.id, score) == ("answer", answer.id, 1)
    vote = world.events[-1]
    assert isinstance(vote, VoteChanged)
    assert vote.question_tags == ("hr",)


async def test_invalid_and_own_votes_are_refused(world: World) -> None:
    question = await ask(world)
    with pytest.raises(InvalidArgument) as value:
        await world.questions.vote(BOB, question.id, 2)
    assert [v.field for v in value.value.violations] == ["direction"]
    with pytest.raises(FailedPrecondition) as own:
        await world.questions.vote(ANN, question.id, 1)
    assert own.value.reason == "SELF_VOTE"
    with pytest.raises(PermissionDenied):
        await world.questions.vote(OUT, question.id, 1)
    with pytest.raises(NotFound):
        await world.questions.vote(BOB, "nope", 1)
    assert names(world) == ["QuestionAsked"]


# --- comments, edits, deletions ----------------------------------------------------------------------


async def test_comments_page_oldest_first_and_are_stored_once_per_request(world: World) -> None:
    question = await ask(world)
    made = [(await world.questions.add_comment(BOB, question.id, f"Note {i}", f"r{i}")).id for i in range(5)]
    again = await world.questions.add_comment(BOB, question.id, "Note 0", "r0")
    assert again.id == made[0]
    seen: list[str] = []
    token = ""
    while True:
        page = await world.questions.list_comments(CAT, question.id, 2, token)
        seen += [c.id for c in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == made
    assert names(world).count("CommentPosted") == 5
    with pytest.raises(InvalidArgument):
        await world.questions.add_comment(BOB, question.id, "", "")


async def test_edits_keep_revisions_and_only_authors_or_moderators_edit(world: World) -> None:
    question = await ask(world)
    with pytest.raises(PermissionDenied) as other:
        await world.questions.edit(BOB, question.id, Text("Bob's title?", "", []), ["title"])
    assert other.value.reason == "NOT_AUTHOR"
    edited, number = await world.questions.edit(ANN, question.id, Text("Booking leave?", "", []), ["title"])
    assert isinstance(edited, Question)
    assert (number, edited.title, edited.body) == (1, "Booking leave?", "Where is the form?")
    edited, number = await world.questions.edit(MOD, question.id, Text("", "See @cat", []), ["body"])
    assert isinstance(edited, Question)
    assert (number, edited.title, edited.body, edited.edit_count) == (2, "Booking leave?", "See @cat", 2)
    assert names(world) == ["QuestionAsked", "PostEdited", "PostEdited", "MentionMade"]
    revisions = await world.questions.list_revisions(CAT, question.id, 10, "")
    assert [(r.number, r.editor_id, r.text.title) for r in revisions.items] == [
        (2, "mod", "Booking leave?"),
        (1, "ann", "How do I book leave?"),
    ]


async def test_a_moderator_deletes_with_a_reason_and_the_post_leaves_lists_and_front_page(
    world: World,
) -> None:
    question = await ask(world)
    world.directory.add_member("c1", "cur", Role.CURATOR)
    await world.curation.feature(who("cur"), "c1", "post", question.id)
    with pytest.raises(InvalidArgument) as reason:
        await world.questions.delete(MOD, question.id, " ")
    assert [v.field for v in reason.value.violations] == ["reason"]
    with pytest.raises(PermissionDenied):
        await world.questions.delete(BOB, question.id, "")
    await world.questions.delete(MOD, question.id, "spam")
    removed = world.events[-1]
    assert world.names() == ["QuestionAsked", "ItemFeatured", "PostRemoved"]
    assert isinstance(removed, PostRemoved)
    assert (removed.removed_by, removed.reason, removed.by_moderator) == ("mod", "spam", True)
    assert (await world.curation.list_featured(ANN, "c1", 10, "")).items == []
    assert (await world.questions.list_questions(ANN, "c1", 10, "")).items == []
    with pytest.raises(NotFound):
        await world.questions.get_question(ANN, question.id, 0)
    with pytest.raises(NotFound):
        await world.questions.delete(ANN, question.id, "")


async def test_tags_are_counted_over_the_communitys_visible_posts(world: World) -> None:
    await world.questions.ask(ANN, "c1", "Leave form?", "", ["hr", "leave"], "")
    await world.questions.ask(BOB, "c1", "Payslips?", "", ["hr"], "")
    await world.questions.ask(BOB, "secret", "Secret?", "", ["hidden-tag"], "")
    tags = await world.questions.list_tags(CAT, "c1", 10, "")
    assert tags.items == [("hr", 2), ("leave", 1)]


async def test_archived_communities_are_read_only(world: World) -> None:
    with pytest.raises(FailedPrecondition):
        await world.questions.create_post(MOD, "old", "announcement", "Closed", "Bye", [], "")
    assert (await world.questions.list_questions(ANN, "old", 10, "")).items == []


# --- concurrency -------------------------------------------------------------------------------------


async def test_concurrent_votes_keep_the_exact_score_and_event_chain(world: World) -> None:
    question = await ask(world)
    voters = [f"v{i}" for i in range(12)]
    for voter in voters:
        world.directory.add_member("c1", voter)
    await asyncio.gather(*(world.questions.vote(who(v), question.id, 1) for v in voters))
    stored, _ = await world.questions.get_question(ANN, question.id, 0)
    assert stored.score == 12
    scores = [e.score for e in world.events if isinstance(e, VoteChanged)]
    assert sorted(scores) == list(range(1, 13))


async def test_concurrent_acceptances_retry_on_the_newer_version(world: World) -> None:
    question = await ask(world)
    first = await world.questions.answer(BOB, question.id, "Use the HR portal.", "")
    second = await world.questions.answer(CAT, question.id, "Ask your manager.", "")
    done = await asyncio.gather(
        world.questions.accept(ANN, question.id, first.id),
        world.questions.accept(MOD, question.id, second.id),
    )
    final = await world.questions.accepted_answer_id(question.id)
    assert final in {first.id, second.id}
    assert done[0].version != done[1].version  # one was saved over the other, not beside it
    assert names(world)[3:].count("AnswerAccepted") == 2
    assert names(world)[3:].count("AnswerUnaccepted") == 1


async def test_concurrent_edits_from_one_version_both_land_in_turn(world: World) -> None:
    question = await ask(world)
    edits = await asyncio.gather(
        world.questions.edit(ANN, question.id, Text("First new title?", "", []), ["title"]),
        world.questions.edit(MOD, question.id, Text("", "A new body", []), ["body"]),
    )
    assert sorted(number for _, number in edits) == [1, 2]
    stored, _ = await world.questions.get_question(ANN, question.id, 0)
    assert (stored.title, stored.body, stored.edit_count) == ("First new title?", "A new body", 2)
    revisions = await world.questions.list_revisions(ANN, question.id, 10, "")
    assert [r.number for r in revisions.items] == [2, 1]
