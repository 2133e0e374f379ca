"""The unanswered queue with its similar-question hints, and the hints stored when a question is asked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import Validator
from guild_common.pagination import clamp_page_size
from guild_content.app.access import PostAccess, require
from guild_content.app.concurrently import both, with_check
from guild_content.app.meaning import meaning_hits
from guild_content.app.ports import (
    IndexedQuestion,
    MembershipDirectory,
    QuestionRepository,
    SearchHit,
    StoredHints,
    WaitingItem,
    WaitingQuestion,
)
from guild_content.app.search import ranked_entries, wanted_by
from guild_content.domain.community import ensure_champion
from guild_content.domain.posts import is_question_kind
from guild_content.domain.questions import Question
from guild_content.domain.search import relevance, terms

# Similar-question hints of the unanswered queue (up to SIMILAR_HINTS answered questions per question).
# They are computed when a question is asked: per term of its title, the answered questions among the
# HINT_CANDIDATES_PER_TERM newest posts having it, ranked as search ranks. They are stored on the question
# with the community's hint epoch (see ``adapters.search_store``), which moves with a logged change each
# time a question becomes or stops being a possible hint, or a possible hint is edited, deleted, hidden or
# restored. A page of the queue is one indexed read of the questions with their stored hints and one
# batched read of the hint posts; hints stored at an older epoch are brought up to date on that read:
# - the posts logged as changed since join the stored hints, and the best of them are kept (a question
#   answered after one was asked becomes its hint);
# - computed again from the search documents when a stored hint itself changed (it may have dropped
#   out), when the question was edited, when it has none (stored before hints were), or when the log
#   is more than HINT_CHANGES_MAX behind or has a gap (a writer stopped after moving the epoch);
# and written back guarded by the stored epoch read, so a concurrent edit or update is never overwritten.
# This keeps the cost of a change to one small log entry, and a queue read behind by a few changes to a
# slightly larger batched read, instead of a fan-out to every similar waiting question on each answer.
SIMILAR_HINTS = 3
# Ten years: the longest wait the curation queue can be asked for.
MIN_AGE_MINUTES_MAX = 10 * 366 * 24 * 60
HINT_CANDIDATES_PER_TERM = 25
# A page's stored hints are brought up to date from the hint change log while at most this many changes
# behind; further behind, they are computed again.
HINT_CHANGES_MAX = 200


async def hints_of(repo: QuestionRepository, question: Question) -> StoredHints | None:
    """The similar-question hints of a question about to be stored (None for other kinds of post)."""
    if not is_question_kind(question.kind):
        return None
    epoch = await repo.hint_epoch(question.community_id)  # read before the candidates
    computed = await compute_hints(repo, question.community_id, {question.id: terms(question.title)}, epoch)
    return computed[question.id]


async def compute_hints(
    repo: QuestionRepository, community_id: str, wanted: dict[str, list[str]], epoch: int
) -> dict[str, StoredHints]:
    """Hints of each question (by id, with its title's terms): one lookup per distinct term, shared."""
    page_terms = list(dict.fromkeys(term for each in wanted.values() for term in each))
    read = await asyncio.gather(
        *(repo.term_entries([community_id], t, HINT_CANDIDATES_PER_TERM, None) for t in page_terms)
    )
    answered = wanted_by(("question",), "", True)
    by_term = {t: [e for e in entries if answered(e)] for t, entries in zip(page_terms, read, strict=True)}
    computed = {}
    for question_id, title_terms in wanted.items():
        pool = {e.id: e for term in title_terms for e in by_term.get(term, [])}
        pool.pop(question_id, None)
        best = ranked_entries(title_terms, pool.values())[:SIMILAR_HINTS]
        computed[question_id] = StoredHints([r.id for r in best], epoch)
    return computed


class UnansweredQueue(PostAccess):
    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        *,
        unanswered_after: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(repository, directory, clock=clock)
        self._unanswered_after = unanswered_after

    async def unanswered(
        self, caller: Principal, community_id: str, min_age_minutes: int, page_size: int, page_token: str
    ) -> tuple[list[WaitingItem], str]:
        """The curation queue: questions unanswered for a while, each with similar answered questions (by
        their terms) and the earlier questions found meaning the same when it was asked."""
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=50)
        check = Validator()
        check.require(
            0 <= min_age_minutes <= MIN_AGE_MINUTES_MAX, "min_age_minutes", f"0 to {MIN_AGE_MINUTES_MAX}"
        )
        check.check()
        age = timedelta(minutes=min_age_minutes) if min_age_minutes else self._unanswered_after
        # The page is read while the caller's role is: nothing of it is used before the role is checked.
        membership, (page, epoch) = await with_check(
            self._membership_in(caller, community_id),
            both(
                self._repo.unanswered(community_id, self._clock() - age, size, page_token),
                self._repo.hint_epoch(community_id),
            ),
        )
        ensure_champion(membership)
        wanted = {w.question.id: terms(w.question.title) for w in page.items}
        hints = {w.question.id: w.hints for w in page.items if w.hints is not None and w.hints.epoch == epoch}
        stale = [w for w in page.items if w.question.id not in hints]
        # Hints a possible hint appeared or changed for since: that post joins them (changes since).
        # From scratch: never computed, edited since, one of them changed, or the change log falls short.
        changes = await self._changes_since(community_id, stale, epoch)
        pools = {question_id: stored.ids for question_id, stored in hints.items()}
        scratch: dict[str, list[str]] = {}
        for w in stale:
            question_id = w.question.id
            stored = w.hints
            if stored is None or stored.epoch < 0 or changes is None:
                scratch[question_id] = wanted[question_id]
                continue
            changed = [post for e, post in sorted(changes.items()) if e > stored.epoch]
            if set(changed) & set(stored.ids):
                scratch[question_id] = wanted[question_id]
            else:
                pools[question_id] = list(dict.fromkeys([*stored.ids, *changed]))
        if scratch:
            computed = await compute_hints(self._repo, community_id, scratch, epoch)
            pools |= {question_id: stored.ids for question_id, stored in computed.items()}
        # One batched read of every hint of the page, every post to weigh as a new one, and the questions
        # found meaning the same when each was asked.
        meant = [n.id for w in page.items for n in w.similar]
        posts = await self._repo.visible_posts([*meant, *(i for pool in pools.values() for i in pool)])
        items: list[WaitingItem] = []
        by_terms: list[list[SearchHit]] = []
        for w in page.items:
            question_id = w.question.id
            usable = [
                posts[i]
                for i in pools[question_id]
                if i in posts and i != question_id and possible_hint(posts[i].question)
            ]
            by_terms.append(ranked_hits(wanted[question_id], usable)[:SIMILAR_HINTS])
            items.append(WaitingItem(w.question, by_terms[-1], meaning_hits(w.similar, posts)))
        await asyncio.gather(
            *(
                self._repo.store_hints(
                    w.question.id, StoredHints([h.question.id for h in best], epoch), w.hints
                )
                for w, best in zip(page.items, by_terms, strict=True)
                if w.question.id not in hints
            )
        )
        return items, page.next_token

    async def _changes_since(
        self, community_id: str, stale: list[WaitingQuestion], epoch: int
    ) -> dict[int, str] | None:
        """The hint change log from the oldest epoch of ``stale`` hints to ``epoch``; None when it is
        longer than ``HINT_CHANGES_MAX`` or has gaps."""
        behind = [w.hints.epoch for w in stale if w.hints is not None and w.hints.epoch >= 0]
        if not behind or epoch - min(behind) > HINT_CHANGES_MAX:
            return None
        changes = await self._repo.hint_changes(community_id, min(behind), epoch)
        return changes if len(changes) == epoch - min(behind) else None


def possible_hint(question: Question) -> bool:
    """Whether a (visible) post can be a similar-question hint: an answered question."""
    return question.answer_count > 0 and is_question_kind(question.kind)


def ranked_hits(wanted: list[str], candidates: list[IndexedQuestion]) -> list[SearchHit]:
    hits = []
    for candidate in candidates:
        score, matched = relevance(wanted, candidate.terms, candidate.title_terms)
        if score:
            hits.append(SearchHit(candidate.question, score, matched))
    return sorted(hits, key=_rank_key)


def _rank_key(hit: SearchHit) -> tuple[int, float, str]:
    return (-hit.relevance, -hit.question.create_time.timestamp(), hit.question.id)
