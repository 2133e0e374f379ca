"""The ledger's commands: entries gained and taken back under each community's points rules, each
decided on the counters it read.

A decision that depends on what the member's entries about a post hold (a removal forbids gains, a
reversal takes back what was earned, a follow or a rating credits once) reads the counters once
(``target_state``) and records its entry guarded by what it read; a change in between makes the
ledger refuse it (``StaleDecision``) and the decision is read and made again. So decisions are exact
with any number of replicas and handlers running at once, with no lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from guild_common.atomic import ConcurrentChange
from guild_common.clock import utc_now
from guild_common.events.meta import EventMeta
from guild_common.tags import normalise_tags
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ports import Guard, Ledger, PointsRules, PostTags, StaleDecision, TargetState, Waits
from guild_reputation.domain.integration_events import region_programme
from guild_reputation.domain.rules import LedgerEntry, PointsTable, Rule, RuleSetting


class NotYetKnown(Exception):
    """The event is about something this service has not heard of yet (a question's tags): the
    consumer delivers it again later, by when the event that tells it has been handled."""


# Times a decision is read and made again when its counter changed before it was counted.
DECIDE_ATTEMPTS = 16
Decision = Callable[[TargetState], Awaitable[None]]


class LedgerDecisions:
    def __init__(
        self,
        ledger: Ledger,
        live: LiveBoards,
        points: PointsTable,
        rules: PointsRules,
        post_tags: PostTags,
        waits: Waits | None = None,
        *,
        tags_wait: timedelta = timedelta(seconds=2),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``waits``/``tags_wait``: how long an event about a question this service has not heard of is
        delivered again before it is recorded without the question's tags (without ``waits``: not at
        all). ``clock``: the time waits are measured by."""
        self._waits = waits
        self._tags_wait = tags_wait
        self._clock = clock
        self._ledger = ledger
        self._live = live
        self._points = points
        self._rules = rules
        self._post_tags = post_tags

    async def setting(self, community_id: str, rule: Rule) -> RuleSetting:
        return self._points.effective(await self._rules.overrides(community_id))[rule]

    async def record(self, meta: EventMeta, entry: LedgerEntry, guard: Guard | None) -> None:
        """Append the entry, store the totals and show them on this replica's boards; the other
        replicas follow the entry's ``points_changed`` event."""
        region, programme = region_programme(meta)
        await self._ledger.record(entry, region=region, programme=programme, guard=guard)
        await self._live.refresh(self._ledger, entry.community_id, entry.member_id, entry.time, entry.id)

    async def decide(
        self,
        meta: EventMeta,
        community_id: str,
        member_id: str,
        target_id: str,
        actor_id: str,
        rules: Sequence[Rule],
        decision: Decision,
    ) -> TargetState:
        """Run ``decision`` on the member's counters about the target until it is not stale; the state
        it was last run on.

        Counters holding one of this event's entries mean a crash left it counted in part: it is
        finished as first recorded (and shown on this replica's boards) rather than decided again.
        """
        ids = [f"{meta.id}:{rule.value}" for rule in rules]
        for _ in range(DECIDE_ATTEMPTS):
            state = await self._ledger.target_state(community_id, member_id, target_id, actor_id, ids)
            if state.held:
                for entry in await self._ledger.resume(sorted(state.held)):
                    await self._live.refresh(
                        self._ledger, entry.community_id, entry.member_id, entry.time, entry.id
                    )
                return state
            try:
                await decision(state)
            except StaleDecision:
                continue
            return state
        raise ConcurrentChange(f"the counters of {target_id[:64]} changed on each of {DECIDE_ATTEMPTS} tries")

    async def gain(
        self,
        meta: EventMeta,
        rule: Rule,
        community_id: str,
        member_id: str,
        target_id: str,
        actor_id: str = "",
        tags: Sequence[str] = (),
        entry_id: str = "",
        guard: Guard | None = None,
    ) -> None:
        """A gain under the community's points for ``rule``, cut by the daily cap (an atomic counter
        per member, rule and day). ``entry_id``, when given, replaces the ``<event id>:<rule>`` id by a
        natural key that counts once across events."""
        setting = await self.setting(community_id, rule)
        entry = LedgerEntry.for_event(
            event_id=meta.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=setting.points,
            target_id=target_id,
            time=meta.time,
            actor_id=actor_id,
            tags=tags,
        )
        if entry_id:
            entry = replace(entry, id=entry_id)
        if setting.daily_cap <= 0:
            await self.record(meta, entry, guard)
            return
        amount = await self._ledger.reserve_daily(entry, setting.daily_cap)
        try:
            await self.record(meta, entry.capped_to(amount) if amount < entry.amount else entry, guard)
        except StaleDecision:
            await self._ledger.unreserve_daily(entry)  # decided again, perhaps to gain nothing
            raise

    async def reverse(
        self,
        meta: EventMeta,
        rule: Rule,
        state: TargetState,
        community_id: str,
        member_id: str,
        target_id: str,
        amount: int,
        guard: Guard,
        actor_id: str = "",
    ) -> None:
        """Takes back what entries about ``target_id`` earned, under the tags they were recorded with."""
        entry = LedgerEntry.for_event(
            event_id=meta.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            target_id=target_id,
            time=meta.time,
            actor_id=actor_id,
            tags=state.tags,
        )
        await self.record(meta, entry, guard)

    async def tags(self, post_id: str, question_id: str = "") -> list[str]:
        """The post's tags from the read model; an answer unknown there takes its question's."""
        tags = await self._post_tags.tags_of(post_id)
        if not tags and question_id and question_id != post_id:
            tags = await self._post_tags.tags_of(question_id)
        return tags

    async def question_tags(
        self, meta: EventMeta, carried: Sequence[str], post_id: str, question_id: str = ""
    ) -> list[str]:
        """The tags of a question or answer (its question's): from the read model, else from the event
        when it carries them. While neither knows, the event is delivered again (``NotYetKnown``, which
        the consumer retries with backoff) rather than recorded untagged for good: for ``tags_wait``
        from when a replica first saw it, after which the question is taken to be one this service
        will not hear of (asked before it ran, or outside its slice) and the entry has no tags."""
        tags = await self._post_tags.known_tags(post_id)
        if tags is None and question_id and question_id != post_id:
            tags = await self._post_tags.known_tags(question_id)
        if tags is None:
            tags = normalise_tags(carried) or None
        key = f"tags:{meta.id}"
        if tags is not None or self._waits is None:
            return tags or []
        now = self._clock()
        if now - await self._waits.first_seen(key, now) < self._tags_wait:
            raise NotYetKnown(f"the tags of question {(question_id or post_id)[:64]} are not known yet")
        await self._waits.forget(key)
        return []
