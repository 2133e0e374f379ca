"""In-memory implementations of every port of the reputation service, for fast tests of the use cases
and handlers (composed like ``bootstrap`` in ``app_world``).

They keep the contract of the MongoDB stores (``guild_reputation.adapters``) where the use cases can
see it, and ``test_store_contract`` runs the same tests on both. The ledger: an entry counts once per id
however often it is recorded, a guarded entry is refused (``StaleDecision``) when its counter changed
since the decision read it, the daily room is taken once per entry id and given back, the counters say
what the entries recorded add up to, tag boards page most points first. The others: writes applied only
when newer (roles, visibility, ratings, acceptances, pilot controls), adds idempotent by natural key
returning what is stored (post tags, awards, facts, badge definitions and ticks, CPD credits once per id
and per target, role changes, collections, summaries), guarded moves (CPD counters within a cap, the
day of a rolling badge's last award, a reflection on a credit waiting for one), lists paged in the
stores' order behind signed tokens (``guild_testing.memory.keyset_page``). Each write that would
publish an event records it, in order, in its store's ``events`` (``points_changed``,
``badge_awarded``, ``cpd_credit_recorded``, ``recognition_summary_issued``), built by the same
functions the stores use.

Not the Mongo ledger's internals (batches, counter slots, crash recovery): an entry here is recorded
and released at once, so ``resume`` finds nothing left to finish. Crash, batch and replica behaviour
is tested on the real store. Migrations of documents written by earlier versions have no counterpart.

No method awaits between reading and writing its state, so each write is atomic however many tasks run
(each awaits ``asyncio.sleep(0)`` first, so concurrent use cases interleave).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from guild_common.events.envelope import Envelope
from guild_common.mongo import Document
from guild_common.pagination import Page
from guild_reputation.adapters.outbound_events import (
    badge_awarded,
    cpd_credit_recorded,
    points_changed,
    recognition_summary_issued,
)
from guild_reputation.app.ports import (
    BoardChunk,
    CuratedCollection,
    Guard,
    SnapshotHead,
    StaleDecision,
    TagTotal,
    TargetState,
    Total,
)
from guild_reputation.domain.badges import Award
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    MemberTotal,
    Reflection,
    Totals,
)
from guild_reputation.domain.custom_badges import BadgeDefinition, Count, CountedEvent
from guild_reputation.domain.insights import MONTH, NEVER, PostKind, QuestionFigures, Scope, Weeks
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.pilot import PilotControl
from guild_reputation.domain.recognition import ContributionSummary, RoleChange
from guild_reputation.domain.rules import LedgerEntry, Rule, RuleSetting, capped_amount
from guild_testing.memory import keyset_page

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class ManualClock:
    """A clock tests move by hand: ``now()`` returns the same time until ``advance``."""

    def __init__(self, start: datetime = T0) -> None:
        self.time = start

    def __call__(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta = timedelta(seconds=1)) -> datetime:
        self.time += delta
        return self.time


def _field_at(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for name in path.split("."):
        node = node.get(name) if isinstance(node, dict) else None
    return node


@dataclass
class _Counter:
    """A member's entries about one target (and one actor's share): what ``target_state`` reads."""

    rules: dict[str, dict[str, int]] = field(default_factory=dict)
    entries: int = 0
    tags: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def doc(self) -> dict[str, Any]:
        return {
            "rules": {r: dict(v) for r, v in self.rules.items()},
            "entries": self.entries,
            "tags": sorted(self.tags),
        }

    def add(self, entry: LedgerEntry) -> None:
        by_rule = self.rules.setdefault(entry.rule.value, {"points": 0, "count": 0})
        by_rule["points"] += entry.amount
        by_rule["count"] += 1
        self.entries += 1
        self.tags.update(entry.tags)
        self.seen.add(entry.id)


@dataclass
class _Total:
    points: int = 0
    entries: int = 0
    updated: datetime | None = None


def target_counter_id(community_id: str, member_id: str, target_id: str) -> str:
    return f"target|{community_id}|{member_id}|{target_id}"


def actor_counter_id(community_id: str, member_id: str, target_id: str, actor_id: str) -> str:
    return f"actor|{community_id}|{member_id}|{target_id}|{actor_id}"


class MemoryLedger:
    """The ledger port: entries by id, the counters they add to, the daily caps."""

    def __init__(
        self,
        calendar: Calendar | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        events: Callable[[LedgerEntry, str, str], list[Envelope]] = points_changed,
    ) -> None:
        self._calendar = calendar or Calendar()
        self._clock = clock
        self._events = events
        self.entries: dict[str, LedgerEntry] = {}
        # The ``points_changed`` events released, in order.
        self.events: list[Envelope] = []
        self._counters: dict[str, _Counter] = {}
        self._totals: dict[tuple[str, str, str], _Total] = {}
        self._tag_totals: dict[tuple[str, str, str], int] = {}
        # Per (community, member, rule, day): points granted, and per entry id what it was granted.
        self._caps: dict[str, tuple[int, dict[str, int]]] = {}

    # Recording

    async def record(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> None:
        await asyncio.sleep(0)
        if entry.id in self.entries:
            return  # recorded before: counted once
        if guard is not None:
            counter = self._counters.get(guard.counter_id)
            held = _field_at(counter.doc(), guard.field) if counter else None
            if held != guard.value:
                raise StaleDecision(entry.id)
        self.entries[entry.id] = entry
        self._count(entry)
        self.events.extend(self._events(entry, region, programme))

    def _count(self, entry: LedgerEntry) -> None:
        now = self._clock()
        periods = self._calendar.periods(entry.time)
        for board in (entry.community_id, GLOBAL):
            for period in periods.names():
                total = self._totals.setdefault((board, period, entry.member_id), _Total())
                total.points += entry.amount
                total.entries += 1
                total.updated = max(total.updated or now, now)
        for tag in dict.fromkeys(entry.tags):
            key = (entry.community_id, tag, entry.member_id)
            self._tag_totals[key] = self._tag_totals.get(key, 0) + entry.amount
        if not entry.target_id:
            return
        ids = [target_counter_id(entry.community_id, entry.member_id, entry.target_id)]
        if entry.actor_id:
            ids.append(actor_counter_id(entry.community_id, entry.member_id, entry.target_id, entry.actor_id))
        for counter_id in ids:
            self._counters.setdefault(counter_id, _Counter()).add(entry)

    async def resume(self, entry_ids: Collection[str]) -> list[LedgerEntry]:
        """Entries here are recorded and released at once: none is ever left to finish."""
        await asyncio.sleep(0)
        return []

    # Reading the counters

    def _doc(self, counter_id: str) -> dict[str, Any]:
        counter = self._counters.get(counter_id)
        return counter.doc() if counter else {}

    async def target_state(
        self, community_id: str, member_id: str, target_id: str, actor_id: str, entry_ids: Collection[str]
    ) -> TargetState:
        await asyncio.sleep(0)
        target = target_counter_id(community_id, member_id, target_id)
        actor = actor_counter_id(community_id, member_id, target_id, actor_id) if actor_id else ""
        counters = [c for c in (self._counters.get(target), self._counters.get(actor)) if c]
        held = frozenset(i for i in entry_ids for c in counters if i in c.seen)
        return TargetState(target, actor, self._doc(target), self._doc(actor) if actor else {}, held)

    def _target(self, community_id: str, member_id: str, target_id: str, actor_id: str) -> dict[str, Any]:
        if actor_id:
            return self._doc(actor_counter_id(community_id, member_id, target_id, actor_id))
        return self._doc(target_counter_id(community_id, member_id, target_id))

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        by_rule = self._target(community_id, member_id, target_id, actor_id).get("rules", {})
        return sum(int(by_rule.get(rule.value, {}).get("points", 0)) for rule in rules)

    async def tags_for_target(self, community_id: str, member_id: str, target_id: str) -> list[str]:
        return list(self._target(community_id, member_id, target_id, "").get("tags", []))

    async def count_for_target(
        self, community_id: str, member_id: str, target_id: str, rule: Rule, actor_id: str = ""
    ) -> int:
        by_rule = self._target(community_id, member_id, target_id, actor_id).get("rules", {})
        return int(by_rule.get(rule.value, {}).get("count", 0))

    # Daily caps

    def _cap_id(self, entry: LedgerEntry) -> str:
        return f"{entry.community_id}|{entry.member_id}|{entry.rule.value}|{self._calendar.day(entry.time)}"

    async def reserve_daily(self, entry: LedgerEntry, cap: int) -> int:
        await asyncio.sleep(0)
        cap_id = self._cap_id(entry)
        points, grants = self._caps.get(cap_id, (0, {}))
        if entry.id in grants:
            return grants[entry.id]
        amount, _ = capped_amount(RuleSetting(entry.amount, cap), points)
        self._caps[cap_id] = (points + amount, {**grants, entry.id: amount})
        return amount

    async def unreserve_daily(self, entry: LedgerEntry) -> None:
        await asyncio.sleep(0)
        cap_id = self._cap_id(entry)
        points, grants = self._caps.get(cap_id, (0, {}))
        if entry.id in grants:
            rest = {k: v for k, v in grants.items() if k != entry.id}
            self._caps[cap_id] = (points - grants[entry.id], rest)

    # Totals

    async def top_by_tag(
        self, community_id: str, tag: str, page_size: int, page_token: str
    ) -> Page[TagTotal]:
        await asyncio.sleep(0)
        rows = [
            TagTotal(c, t, m, points)
            for (c, t, m), points in self._tag_totals.items()
            if c == community_id and t == tag and points > 0
        ]
        # The store's order: points, then ``_id`` (``<community>|<tag>|<member>``), both descending.
        return keyset_page(
            rows,
            lambda r: (r.points, f"{r.community_id}|{r.tag}|{r.member_id}"),
            page_token,
            page_size,
            descending=True,
        )

    def _total(self, key: tuple[str, str, str], total: _Total, *, entries: bool = True) -> Total:
        board, period, member = key
        return Total(board, member, total.points, period, total.entries if entries else 0)

    async def stored_totals(self, community_id: str, member_id: str, moment: datetime) -> list[Total]:
        await asyncio.sleep(0)
        names = self._calendar.periods(moment).names()
        keys = [(b, p, member_id) for b in (community_id, GLOBAL) for p in names]
        return [self._total(k, self._totals[k]) for k in keys if k in self._totals]

    async def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        wanted = set(periods)
        for key, total in list(self._totals.items()):
            if key[1] in wanted:
                yield self._total(key, total, entries=False)  # the store's stream leaves entries out

    async def totals_changed_since(self, periods: Collection[str], since: datetime) -> AsyncIterator[Total]:
        wanted = set(periods)
        for key, total in list(self._totals.items()):
            if key[1] in wanted and total.updated is not None and total.updated >= since:
                yield self._total(key, total)

    async def prune_journal(self, before: datetime) -> int:
        return 0  # no journal: written by earlier versions of the Mongo store only

    # For tests

    def points(self, member_id: str, community_id: str = GLOBAL, period: str = ALL_TIME) -> int:
        total = self._totals.get((community_id, period, member_id))
        return total.points if total else 0


class MemoryPostTags:
    """Each post's tags, stored once (the first ``remember`` of a post wins, as the store's insert)."""

    def __init__(self) -> None:
        self._posts: dict[str, tuple[list[str], str, bool]] = {}

    async def remember(
        self, post_id: str, tags: Sequence[str], *, question_id: str = "", resolved: bool = False
    ) -> None:
        await asyncio.sleep(0)
        self._posts.setdefault(post_id, (list(tags), question_id, resolved))

    async def tags_of(self, post_id: str) -> list[str]:
        return await self.known_tags(post_id) or []

    async def known_tags(self, post_id: str) -> list[str] | None:
        await asyncio.sleep(0)
        post = self._posts.get(post_id)
        if post is None:
            return None
        tags, question_id, resolved = post
        if question_id and not resolved:
            question = self._posts.get(question_id)
            return None if question is None else list(question[0])
        return list(tags)


class MemoryWaits:
    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}

    async def first_seen(self, key: str, now: datetime) -> datetime:
        await asyncio.sleep(0)
        return self._since.setdefault(key, now)

    async def forget(self, key: str) -> None:
        self._since.pop(key, None)


class MemoryPointsRules:
    """Per community, the overrides of each rule (rules of other names set before stay)."""

    def __init__(self) -> None:
        self._rules: dict[str, dict[str, RuleSetting]] = {}
        self.updated_by: dict[str, str] = {}

    async def overrides(self, community_id: str) -> dict[str, RuleSetting]:
        await asyncio.sleep(0)
        return dict(self._rules.get(community_id, {}))

    async def set_overrides(self, community_id: str, overrides: dict[str, RuleSetting], by: str) -> None:
        await asyncio.sleep(0)
        self._rules.setdefault(community_id, {}).update(overrides)
        self.updated_by[community_id] = by


class MemoryRoles:
    """The roles read model and the directory the use cases read: a change applies only if newer;
    ``""`` is stored for someone who left (known, not a member). No community service behind it:
    a membership never heard of has no role."""

    def __init__(self) -> None:
        self._roles: dict[tuple[str, str], tuple[str, datetime, str, str]] = {}

    async def put(
        self,
        community_id: str,
        member_id: str,
        role: str,
        as_of: datetime,
        *,
        region: str = "",
        programme: str = "",
    ) -> None:
        await asyncio.sleep(0)
        key = (community_id, member_id)
        stored = self._roles.get(key)
        if stored is not None and stored[1] >= as_of:
            return  # a newer change is stored already
        if not (region and programme) and stored is not None:
            region, programme = stored[2], stored[3]  # routing only set when told
        self._roles[key] = (role, as_of, region, programme)

    async def get(self, community_id: str, member_id: str) -> str | None:
        await asyncio.sleep(0)
        stored = self._roles.get((community_id, member_id))
        return None if stored is None else stored[0]

    async def role(self, community_id: str, member_id: str) -> str | None:
        return await self.get(community_id, member_id) or None

    def memberships_of(self, member_id: str) -> dict[str, str]:
        """The member's current communities and roles (what the recognition store reads)."""
        return {c: r for (c, m), (r, _, _, _) in self._roles.items() if m == member_id and r}

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        stored = self._roles.get((community_id, member_id))
        if stored is None or not stored[2]:
            return ("unknown", "unknown")
        return (stored[2], stored[3])


HIDDEN = "hidden"


class MemoryCommunities:
    """Each community's visibility (a change applies only if newer)."""

    def __init__(self) -> None:
        self._visibility: dict[str, tuple[str, datetime]] = {}

    async def put(self, community_id: str, visibility: str, as_of: datetime) -> None:
        await asyncio.sleep(0)
        stored = self._visibility.get(community_id)
        if stored is None or stored[1] < as_of:
            self._visibility[community_id] = (visibility, as_of)

    async def visibility(self, community_id: str) -> str | None:
        stored = self._visibility.get(community_id)
        return None if stored is None else stored[0]

    async def hidden_ids(self) -> frozenset[str]:
        return frozenset(c for c, (v, _) in self._visibility.items() if v == HIDDEN)


class MemoryRatings:
    """Each rater's current stars per item and each item's latest average, replaced only by later ones."""

    def __init__(self) -> None:
        self._stars: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._averages: dict[str, tuple[float, datetime]] = {}
        self._collections: dict[str, tuple[CuratedCollection, datetime]] = {}

    async def rate(self, item_id: str, rater_id: str, stars: int, at: datetime) -> int:
        await asyncio.sleep(0)
        stored = self._stars.get((item_id, rater_id))
        if stored is None or stored[1] < at:
            self._stars[(item_id, rater_id)] = (stars, at)
        return self._stars[(item_id, rater_id)][0]

    async def item_average(self, item_id: str, average: float, count: int, at: datetime) -> None:
        await asyncio.sleep(0)
        stored = self._averages.get(item_id)
        if stored is None or stored[1] < at:
            self._averages[item_id] = (float(average), at)

    async def averages(self, item_ids: Sequence[str]) -> dict[str, float]:
        return {i: self._averages[i][0] for i in item_ids if i in self._averages}

    async def publish(self, collection: CuratedCollection, at: datetime) -> None:
        await asyncio.sleep(0)
        stored = self._collections.get(collection.collection_id)
        if stored is None or stored[1] < at:
            self._collections[collection.collection_id] = (collection, at)

    async def collection(self, collection_id: str) -> CuratedCollection | None:
        stored = self._collections.get(collection_id)
        return None if stored is None else stored[0]

    async def collections_with(self, item_id: str) -> list[CuratedCollection]:
        return [c for c, _ in self._collections.values() if item_id in c.item_ids]


class MemoryBoardSnapshots:
    """Snapshots of the boards, the newest ``keep`` kept (one deployment's slice)."""

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._snapshots: dict[str, tuple[SnapshotHead, list[BoardChunk]]] = {}

    async def latest(self) -> SnapshotHead | None:
        await asyncio.sleep(0)
        heads = sorted((head for head, _ in self._snapshots.values()), key=lambda h: h.as_of)
        return heads[-1] if heads else None

    async def chunks(self, snapshot_id: str) -> AsyncIterator[BoardChunk]:
        _, chunks = self._snapshots.get(snapshot_id, (None, []))
        for chunk in chunks:
            yield replace(chunk, member_ids=list(chunk.member_ids), points=list(chunk.points))

    async def write(self, head: SnapshotHead, chunks: Sequence[BoardChunk]) -> datetime:
        await asyncio.sleep(0)
        self._snapshots[head.snapshot_id] = (head, list(chunks))
        kept = sorted(self._snapshots.values(), key=lambda s: s[0].as_of, reverse=True)[: self._keep]
        self._snapshots = {h.snapshot_id: (h, c) for h, c in kept}
        return kept[-1][0].as_of

    async def discard(self) -> None:
        self._snapshots.clear()


# Rules whose distinct targets the Mongo ledger counts in a counter (an entry without a target: none).
DISTINCT_TARGET_RULES = frozenset({Rule.ANSWER_ACCEPTED.value})


class MemoryBadges:
    """Awards by natural key, each releasing its ``badge_awarded`` event into ``events``, and the facts
    badges count, once per fact id; ``distinct_targets`` reads the ledger (as the store reads its
    counters)."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self._ledger = ledger
        self._awards: dict[str, Award] = {}
        self.events: list[Envelope] = []
        # Per fact id: (community, member, kind, subject).
        self._facts: dict[str, tuple[str, str, str, str]] = {}

    async def award(self, award: Award, *, region: str, programme: str) -> bool:
        await asyncio.sleep(0)
        if award.id in self._awards:
            return False
        self._awards[award.id] = award
        self.events.append(badge_awarded(award, region, programme))
        return True

    async def get(self, award_id: str) -> Award | None:
        return self._awards.get(award_id)

    async def list(
        self,
        member_id: str,
        community_id: str,
        page_size: int,
        page_token: str,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> Page[Award]:
        await asyncio.sleep(0)
        awards = [
            a
            for a in self._awards.values()
            if a.member_id == member_id
            and (a.community_id == community_id if community_id else a.community_id not in exclude)
        ]
        # The store's order: newest first, ties by ``_id`` descending.
        return keyset_page(awards, lambda a: (a.time, a.id), page_token, page_size, descending=True)

    async def award_communities(self, member_id: str) -> frozenset[str]:
        return frozenset(a.community_id for a in self._awards.values() if a.member_id == member_id)

    def awards_of(self, member_id: str) -> Sequence[Award]:
        """For tests: the member's awards, in the order awarded."""
        return [a for a in self._awards.values() if a.member_id == member_id]

    async def add_fact(
        self, fact_id: str, *, community_id: str, member_id: str, kind: str, subject_id: str
    ) -> None:
        await asyncio.sleep(0)
        self._facts.setdefault(fact_id, (community_id, member_id, kind, subject_id))

    async def count_facts(self, community_id: str, kind: str, subject_id: str) -> int:
        return sum(1 for c, _, k, s in self._facts.values() if (c, k, s) == (community_id, kind, subject_id))

    async def fact_subjects(self, community_id: str, member_id: str, kind: str) -> set[str]:
        return {s for c, m, k, s in self._facts.values() if (c, m, k) == (community_id, member_id, kind)}

    async def distinct_targets(self, community_id: str, member_id: str, rule: str) -> int:
        await asyncio.sleep(0)
        targets = {
            e.target_id
            for e in self._ledger.entries.values()
            if (e.community_id, e.member_id, e.rule.value) == (community_id, member_id, rule)
            and (e.target_id or rule not in DISTINCT_TARGET_RULES)
        }
        return len(targets)


# Most active definitions of one event kind a community can have evaluated per event (as the store).
ACTIVE_MAX = 200


class MemoryBadgeDefinitions:
    """Owners' badge definitions, the events counted for them once per natural key, and the day of each
    member's latest award of a repeatable rolling window (claimed by a guarded move)."""

    def __init__(self) -> None:
        self._definitions: dict[str, BadgeDefinition] = {}
        self._ticks: set[str] = set()
        # Per (definition, member, bucket or day): the events counted.
        self._counts: dict[tuple[str, str, str], int] = {}
        self._last_awards: dict[tuple[str, str], int] = {}

    async def create(self, definition: BadgeDefinition) -> BadgeDefinition:
        await asyncio.sleep(0)
        return self._definitions.setdefault(definition.id, definition)

    async def get(self, definition_id: str) -> BadgeDefinition | None:
        return self._definitions.get(definition_id)

    async def archive(self, definition_id: str, at: datetime) -> BadgeDefinition | None:
        await asyncio.sleep(0)
        stored = self._definitions.get(definition_id)
        if stored is not None and not stored.archived:
            stored = self._definitions[definition_id] = replace(stored, archived=True, archive_time=at)
        return stored

    async def page(
        self, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> Page[BadgeDefinition]:
        await asyncio.sleep(0)
        found = [
            d
            for d in self._definitions.values()
            if d.community_id == community_id and (include_archived or not d.archived)
        ]
        return keyset_page(found, lambda d: (d.create_time, d.id), page_token, page_size, descending=True)

    async def active(self, community_id: str, event_type: CountedEvent) -> list[BadgeDefinition]:
        await asyncio.sleep(0)
        found = [
            d
            for d in self._definitions.values()
            if d.community_id == community_id and d.template.event_type == event_type and not d.archived
        ]
        return found[:ACTIVE_MAX]

    @staticmethod
    def _slot(count: Count, day: int) -> str:
        return f"b|{count.bucket}" if count.bucket else f"d|{day}"

    async def tick(self, definition_id: str, event_id: str, member_id: str, count: Count) -> None:
        await asyncio.sleep(0)
        tick_id = f"{definition_id}|{event_id}"
        if tick_id in self._ticks:
            return
        self._ticks.add(tick_id)
        key = (definition_id, member_id, self._slot(count, count.day))
        self._counts[key] = self._counts.get(key, 0) + 1

    async def counted(self, definition_id: str, member_id: str, count: Count) -> int:
        await asyncio.sleep(0)
        if count.bucket:
            slots = [self._slot(count, count.day)]
        else:
            slots = [self._slot(count, day) for day in range(count.window_start, count.day + 1)]
        return sum(self._counts.get((definition_id, member_id, slot), 0) for slot in slots)

    async def last_award_day(self, definition_id: str, member_id: str) -> int | None:
        await asyncio.sleep(0)
        return self._last_awards.get((definition_id, member_id))

    async def awarded_on(self, definition_id: str, member_id: str, day: int) -> None:
        await asyncio.sleep(0)
        key = (definition_id, member_id)
        self._last_awards[key] = max(self._last_awards.get(key, day), day)

    async def claim_award_day(self, definition_id: str, member_id: str, read: int | None, day: int) -> bool:
        await asyncio.sleep(0)
        key = (definition_id, member_id)
        if self._last_awards.get(key) != read:
            return False
        self._last_awards[key] = day
        return True


class MemoryCpd:
    """CPD rules, credits (once per id and once per member, activity and target), the year and month
    counters credits are counted on within a cap (once per credit), and sharing consents. Each counted
    credit's ``cpd_credit_recorded`` event goes into ``events``."""

    def __init__(self) -> None:
        self._rules: dict[str, CpdRules] = {}
        self._credits: dict[str, CpdCredit] = {}
        self._targets: set[str] = set()
        # Per counter id: its fields, minutes and the credits counted on it.
        self._counters: dict[str, tuple[Document, int, dict[str, int]]] = {}
        self._consents: dict[tuple[str, str], bool] = {}
        self.events: list[Envelope] = []

    async def put_rules(self, rules: CpdRules) -> None:
        await asyncio.sleep(0)
        stored = self._rules.get(rules.community_id)
        since = stored.since if stored is not None else rules.update_time
        self._rules[rules.community_id] = replace(rules, since=since)

    async def rules(self, community_id: str) -> CpdRules | None:
        await asyncio.sleep(0)
        return self._rules.get(community_id)

    async def rules_of(self, community_ids: Sequence[str]) -> dict[str, CpdRules]:
        return {c: self._rules[c] for c in community_ids if c in self._rules}

    async def add(self, credit: CpdCredit) -> CpdCredit | None:
        await asyncio.sleep(0)
        if credit.id in self._credits:
            return self._credits[credit.id]
        if credit.target_key in self._targets:
            return None  # credited for the same target by another event
        self._credits[credit.id] = credit
        self._targets.add(credit.target_key)
        return credit

    async def get(self, credit_id: str) -> CpdCredit | None:
        await asyncio.sleep(0)
        return self._credits.get(credit_id)

    def credits(self) -> list[CpdCredit]:
        """For tests: every credit stored, in the order stored."""
        return list(self._credits.values())

    async def start_reflection(
        self, credit_id: str, member_id: str, reflection: Reflection
    ) -> CpdCredit | None:
        await asyncio.sleep(0)
        credit = self._credits.get(credit_id)
        if credit is None or credit.member_id != member_id or credit.state is not CreditState.PENDING:
            return None
        credit = replace(credit, state=CreditState.RESERVING, reflection=reflection)
        self._credits[credit_id] = credit
        return credit

    async def add_reflection(
        self, credit_id: str, member_id: str, reflection: Reflection
    ) -> CpdCredit | None:
        await asyncio.sleep(0)
        credit = self._credits.get(credit_id)
        settled = (CreditState.COUNTED, CreditState.OVER_CAP)
        if (
            credit is None
            or credit.member_id != member_id
            or credit.state not in settled
            or credit.reflection
        ):
            return None
        credit = self._credits[credit_id] = replace(credit, reflection=reflection)
        return credit

    async def finish(self, credit: CpdCredit, state: CreditState, at: datetime) -> bool:
        await asyncio.sleep(0)
        stored = self._credits.get(credit.id)
        if stored is None or stored.state is not CreditState.RESERVING:
            return False
        self._credits[credit.id] = replace(stored, state=state)
        if state is CreditState.COUNTED:
            self.events.append(cpd_credit_recorded(credit, at))
        return True

    async def reserve(
        self, counter_id: str, fields: Document, credit_id: str, minutes: int, cap: int
    ) -> bool:
        await asyncio.sleep(0)
        if minutes > cap:
            return False
        held, total, ids = self._counters.get(counter_id, (dict(fields), 0, {}))
        if credit_id in ids:
            return True
        if total > cap - minutes:
            self._counters[counter_id] = (held, total, ids)
            return False
        self._counters[counter_id] = (held, total + minutes, {**ids, credit_id: minutes})
        return True

    async def release(self, counter_id: str, credit_id: str, minutes: int) -> None:
        await asyncio.sleep(0)
        counter = self._counters.get(counter_id)
        if counter is None or credit_id not in counter[2]:
            return
        held, total, ids = counter
        self._counters[counter_id] = (held, total - minutes, {k: v for k, v in ids.items() if k != credit_id})

    def _log(self, member_id: str, year: int, community_id: str) -> list[CpdCredit]:
        return [
            c
            for c in self._credits.values()
            if c.member_id == member_id
            and c.cpd_year == year
            and (not community_id or c.community_id == community_id)
        ]

    async def page(
        self, member_id: str, year: int, community_id: str, page_size: int, page_token: str
    ) -> Page[CpdCredit]:
        await asyncio.sleep(0)
        return keyset_page(
            self._log(member_id, year, community_id), lambda c: (c.time, c.id), page_token, page_size
        )

    async def log(self, member_id: str, year: int, community_id: str, limit: int) -> list[CpdCredit]:
        return sorted(self._log(member_id, year, community_id), key=lambda c: (c.time, c.id))[:limit]

    async def totals(self, member_id: str, year: int, community_id: str) -> Totals:
        await asyncio.sleep(0)
        counted = pending = counted_n = pending_n = over = 0
        by_activity: dict[CpdActivity, int] = {}
        for c in self._log(member_id, year, community_id):
            if c.state is CreditState.COUNTED:
                counted, counted_n = counted + c.minutes, counted_n + 1
                by_activity[c.activity] = by_activity.get(c.activity, 0) + c.minutes
            elif c.state is CreditState.OVER_CAP:
                over += 1
            else:
                pending, pending_n = pending + c.minutes, pending_n + 1
        return Totals(
            counted_minutes=counted,
            pending_minutes=pending,
            counted_credits=counted_n,
            pending_credits=pending_n,
            over_cap_credits=over,
            by_activity=tuple((a, by_activity[a]) for a in CpdActivity if a in by_activity),
        )

    async def set_sharing(self, community_id: str, member_id: str, shared: bool, at: datetime) -> None:
        await asyncio.sleep(0)
        self._consents[(community_id, member_id)] = shared

    def _year_counter(self, community_id: str, member_id: str, year: int) -> tuple[int, int]:
        counter = self._counters.get(f"y:{community_id}:{member_id}:{year}")
        return (counter[1], len(counter[2])) if counter else (0, 0)

    async def shared_page(
        self, community_id: str, year: int, page_size: int, page_token: str
    ) -> Page[MemberTotal]:
        await asyncio.sleep(0)
        members = [m for (c, m), shared in self._consents.items() if c == community_id and shared]
        page = keyset_page(members, lambda m: (m,), page_token, page_size)
        totals = [MemberTotal(m, *self._year_counter(community_id, m, year)) for m in page.items]
        return Page(totals, page.next_token)

    async def not_shared(self, community_id: str, year: int) -> int:
        await asyncio.sleep(0)
        with_minutes = {
            str(fields["member_id"])
            for fields, _, ids in self._counters.values()
            if fields.get("community_id") == community_id
            and fields.get("kind") == "year"
            and fields.get("year") == year
            and ids
        }
        return len({m for m in with_minutes if not self._consents.get((community_id, m), False)})


# Most questions one figure reads, as the store.
QUESTIONS_READ_MAX = 50_000


@dataclass
class _Member:
    community_id: str
    region: str
    programme: str
    member_id: str
    joined_at: datetime | None = None
    left_at: datetime = NEVER
    first_post_at: datetime = NEVER
    first_question_at: datetime = NEVER


@dataclass(frozen=True)
class _Record:
    """An activity day, a post or a question, with its community's routing (what scopes select on)."""

    community_id: str
    region: str
    programme: str


@dataclass(frozen=True)
class _Activity(_Record):
    member_id: str
    day: str


@dataclass(frozen=True)
class _Post(_Record):
    post_id: str
    kind: PostKind
    author_id: str
    at: datetime
    question_id: str


@dataclass(frozen=True)
class _Question(_Record):
    question_id: str
    asked_at: datetime
    first_answer_at: datetime
    tags: tuple[str, ...]

    @property
    def answer_seconds(self) -> float | None:
        if self.asked_at == NEVER or self.first_answer_at == NEVER:
            return None
        return max(0.0, (self.first_answer_at - self.asked_at).total_seconds())


def _in(record: _Member | _Record, scope: Scope, scope_id: str, exclude: frozenset[str]) -> bool:
    value = {
        Scope.COMMUNITY: record.community_id,
        Scope.PROGRAMME: record.programme,
        Scope.REGION: record.region,
    }
    return value[scope] == scope_id and record.community_id not in exclude


class MemoryInsights:
    """The insight read models: per (community, member) the latest join, the leave after it and the first
    post and question; the days each member was active; each post; each question's asking and first
    answer. Writes are absolute (times kept as the earliest or latest seen), so redelivery changes
    nothing. Also what ``KnownCommunities`` asks (anyone joined or posted)."""

    def __init__(self, weeks: Weeks | None = None) -> None:
        self.weeks = weeks or Weeks()
        self.members_: dict[tuple[str, str], _Member] = {}
        self.activity: dict[tuple[str, str, str], _Activity] = {}
        self.posts_: dict[str, _Post] = {}
        self.questions_: dict[str, _Question] = {}

    async def member_joined(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        await asyncio.sleep(0)
        doc = self.members_.get((community_id, member_id))
        if doc is not None and doc.joined_at is not None and doc.joined_at >= at:
            return  # this join or a later one is stored
        doc = doc or _Member(community_id, region, programme, member_id)
        self.members_[(community_id, member_id)] = replace(
            doc,
            region=region,
            programme=programme,
            joined_at=at,
            left_at=NEVER if doc.left_at <= at else doc.left_at,  # a leave before this join is over
        )

    async def member_left(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        await asyncio.sleep(0)
        doc = self.members_.get((community_id, member_id))
        if doc is not None and doc.joined_at is not None and doc.joined_at > at:
            return  # rejoined since
        if doc is not None and doc.left_at != NEVER and doc.left_at >= at:
            return  # this leave or a later one is stored
        doc = doc or _Member(community_id, region, programme, member_id)
        self.members_[(community_id, member_id)] = replace(
            doc, region=region, programme=programme, left_at=at
        )

    async def active(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        await asyncio.sleep(0)
        day = self.weeks.day(at)
        self.activity.setdefault(
            (community_id, member_id, day), _Activity(community_id, region, programme, member_id, day)
        )

    async def posted(
        self,
        post_id: str,
        kind: PostKind,
        community_id: str,
        author_id: str,
        region: str,
        programme: str,
        at: datetime,
        question_id: str = "",
    ) -> None:
        await asyncio.sleep(0)
        self.posts_.setdefault(
            f"{kind.value}:{post_id}",
            _Post(
                community_id,
                region,
                programme,
                post_id,
                kind,
                author_id,
                at,
                question_id or (post_id if kind is PostKind.QUESTION else ""),
            ),
        )
        doc = self.members_.get((community_id, author_id)) or _Member(
            community_id, region, programme, author_id
        )
        self.members_[(community_id, author_id)] = replace(
            doc,
            region=region,
            programme=programme,
            first_post_at=min(doc.first_post_at, at),
            first_question_at=min(doc.first_question_at, at)
            if kind is PostKind.QUESTION
            else doc.first_question_at,
        )
        await self.active(community_id, author_id, region, programme, at)

    async def _question(
        self,
        question_id: str,
        community_id: str,
        region: str,
        programme: str,
        field: str,
        at: datetime,
        tags: list[str] | None,
    ) -> None:
        await asyncio.sleep(0)
        stored = self.questions_.get(question_id) or _Question(
            community_id, region, programme, question_id, NEVER, NEVER, ()
        )
        self.questions_[question_id] = replace(
            stored,
            community_id=community_id,
            region=region,
            programme=programme,
            tags=stored.tags if tags is None else tuple(tags),
            **{field: min(getattr(stored, field), at)},
        )

    async def question_asked(
        self,
        question_id: str,
        community_id: str,
        region: str,
        programme: str,
        at: datetime,
        tags: list[str] | None = None,
    ) -> None:
        await self._question(question_id, community_id, region, programme, "asked_at", at, tags)

    async def question_answered(
        self, question_id: str, community_id: str, region: str, programme: str, at: datetime
    ) -> None:
        await self._question(question_id, community_id, region, programme, "first_answer_at", at, None)

    async def known_community(self, community_id: str) -> bool:
        return any(c == community_id for c, _ in self.members_)

    def members_at_moment(
        self, scope: Scope, scope_id: str, at: datetime, exclude: frozenset[str]
    ) -> list[_Member]:
        return [
            m
            for m in self.members_.values()
            if _in(m, scope, scope_id, exclude) and m.joined_at is not None and m.joined_at <= at < m.left_at
        ]

    async def members(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> int:
        await asyncio.sleep(0)
        return len({m.member_id for m in self.members_at_moment(scope, scope_id, at, exclude)})

    async def active_members(
        self,
        scope: Scope,
        scope_id: str,
        until: datetime,
        window: timedelta,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> int:
        await asyncio.sleep(0)
        first, last = self.weeks.days_before(until, window)
        return len(
            {
                a.member_id
                for a in self.activity.values()
                if _in(a, scope, scope_id, exclude) and first <= a.day <= last
            }
        )

    def _posts_in(
        self, scope: Scope, scope_id: str, since: datetime, until: datetime, exclude: frozenset[str]
    ) -> list[_Post]:
        return [p for p in self.posts_.values() if _in(p, scope, scope_id, exclude) and since <= p.at < until]

    async def contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> int:
        await asyncio.sleep(0)
        return len({p.author_id for p in self._posts_in(scope, scope_id, since, until, exclude)})

    async def top_contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> list[tuple[str, int]]:
        await asyncio.sleep(0)
        counts: dict[str, int] = {}
        for p in self._posts_in(scope, scope_id, since, until, exclude):
            counts[p.author_id] = counts.get(p.author_id, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]

    async def posts(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> dict[PostKind, int]:
        await asyncio.sleep(0)
        found = self._posts_in(scope, scope_id, since, until, exclude)
        return {kind: sum(1 for p in found if p.kind is kind) for kind in PostKind}

    def answer_seconds_of(
        self, since: datetime, until: datetime, keep: Callable[[_Question], bool]
    ) -> list[float | None]:
        asked = sorted(
            (q for q in self.questions_.values() if keep(q) and since <= q.asked_at < until),
            key=lambda q: q.asked_at,
        )
        return [q.answer_seconds for q in asked[:QUESTIONS_READ_MAX]]

    async def questions(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> QuestionFigures:
        await asyncio.sleep(0)
        return QuestionFigures.of(
            self.answer_seconds_of(since, until, lambda q: _in(q, scope, scope_id, exclude))
        )

    async def new_starters(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> tuple[int, int]:
        await asyncio.sleep(0)
        starters = [
            m
            for m in self.members_at_moment(scope, scope_id, at, exclude)
            if m.joined_at and m.joined_at >= at - MONTH
        ]
        return (
            len({m.member_id for m in starters}),
            len({m.member_id for m in starters if m.first_post_at <= at}),
        )

    async def starters_asking_soon(
        self, community_id: str, since: datetime, until: datetime, within: timedelta
    ) -> tuple[int, int]:
        await asyncio.sleep(0)
        joined = [
            m
            for m in self.members_.values()
            if m.community_id == community_id
            and m.joined_at is not None
            and since <= m.joined_at < until
            and m.left_at > until
        ]
        return len(joined), sum(
            1 for m in joined if m.joined_at and m.first_question_at - m.joined_at <= within
        )


class MemoryPilot:
    """Pilot controls (the latest version kept), and the samples read from the insight read models."""

    def __init__(self, insights: MemoryInsights) -> None:
        self._insights = insights
        self._controls: dict[str, PilotControl] = {}

    async def set_control(self, control: PilotControl) -> None:
        await asyncio.sleep(0)
        stored = self._controls.get(control.community_id)
        if stored is None or stored.version < control.version:
            self._controls[control.community_id] = replace(
                control, control_member_ids=tuple(control.control_member_ids)
            )

    async def control(self, community_id: str) -> PilotControl | None:
        return self._controls.get(community_id)

    def _days(self, since: datetime, until: datetime) -> tuple[str, str]:
        weeks = self._insights.weeks
        return weeks.day(since), weeks.day(until - timedelta(microseconds=1))

    async def members_at(self, community_id: str, at: datetime) -> set[str]:
        await asyncio.sleep(0)
        return {
            m.member_id
            for m in self._insights.members_at_moment(Scope.COMMUNITY, community_id, at, frozenset())
        }

    async def active_in(self, community_id: str, since: datetime, until: datetime) -> set[str]:
        await asyncio.sleep(0)
        first, last = self._days(since, until)
        return {
            a.member_id
            for a in self._insights.activity.values()
            if a.community_id == community_id and first <= a.day <= last
        }

    async def active_among(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> set[str]:
        await asyncio.sleep(0)
        first, last = self._days(since, until)
        wanted = set(member_ids)
        return {
            a.member_id
            for a in self._insights.activity.values()
            if a.member_id in wanted and a.community_id not in exclude and first <= a.day <= last
        }

    async def answer_seconds(self, community_id: str, since: datetime, until: datetime) -> list[float | None]:
        await asyncio.sleep(0)
        return self._insights.answer_seconds_of(since, until, lambda q: q.community_id == community_id)

    async def answer_seconds_by(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> list[float | None]:
        await asyncio.sleep(0)
        wanted = set(member_ids)
        asked = [
            p.question_id
            for p in self._insights.posts_.values()
            if p.author_id in wanted
            and p.kind is PostKind.QUESTION
            and p.community_id not in exclude
            and since <= p.at < until
        ][:QUESTIONS_READ_MAX]
        questions = self._insights.questions_
        return [questions[q].answer_seconds for q in asked if q in questions]


# Most records one summary reads of each kind, as the store.
READ_MAX = 10_000
BADGES_MAX = 200


class MemoryRecognition:
    """The recognition read models (acceptances and ratings as of their latest change, role changes and
    published collections once each) and the summaries issued, each releasing its
    ``recognition_summary_issued`` event into ``events``; posts, question tags, badges and memberships
    are read from the insights, badge and role stores, as the Mongo store reads their collections."""

    def __init__(self, insights: MemoryInsights, badges: MemoryBadges, roles: MemoryRoles) -> None:
        self._insights = insights
        self._badges = badges
        self._roles = roles
        self._accepts: dict[str, tuple[bool, datetime]] = {}
        self._ratings: dict[str, tuple[float, int, datetime]] = {}
        self._role_changes: dict[str, tuple[str, RoleChange]] = {}
        self._collections: dict[str, tuple[str, str, datetime]] = {}
        self._summaries: set[str] = set()
        self.events: list[Envelope] = []

    async def acceptance(self, answer_id: str, answer_author_id: str, accepted: bool, at: datetime) -> None:
        await asyncio.sleep(0)
        stored = self._accepts.get(answer_id)
        if stored is None or stored[1] < at:
            self._accepts[answer_id] = (accepted, at)

    async def rated(self, item_id: str, author_id: str, average: float, count: int, at: datetime) -> None:
        await asyncio.sleep(0)
        stored = self._ratings.get(item_id)
        if stored is None or stored[2] < at:
            self._ratings[item_id] = (average, count, at)

    async def role_changed(self, event_id: str, member_id: str, change: RoleChange) -> None:
        await asyncio.sleep(0)
        self._role_changes.setdefault(event_id, (member_id, change))

    async def collection_published(
        self, collection_id: str, community_id: str, curator_id: str, at: datetime
    ) -> None:
        await asyncio.sleep(0)
        self._collections.setdefault(collection_id, (community_id, curator_id, at))

    async def memberships(self, member_id: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return self._roles.memberships_of(member_id)

    async def posts(self, member_id: str, start: datetime, end: datetime) -> list[Document]:
        await asyncio.sleep(0)
        found = sorted(
            (p for p in self._insights.posts_.values() if p.author_id == member_id and start <= p.at < end),
            key=lambda p: p.at,
        )
        return [
            {
                "_id": f"{p.kind.value}:{p.post_id}",
                "kind": p.kind.value,
                "community_id": p.community_id,
                "question_id": p.question_id,
            }
            for p in found[:READ_MAX]
        ]

    def _curated(self, member_id: str, start: datetime, end: datetime) -> list[str]:
        return [
            c for c, curator, at in self._collections.values() if curator == member_id and start <= at < end
        ]

    async def collections_curated(
        self, member_id: str, start: datetime, end: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> int:
        return sum(1 for c in self._curated(member_id, start, end) if c not in exclude)

    async def curated_in(self, member_id: str, start: datetime, end: datetime) -> frozenset[str]:
        return frozenset(self._curated(member_id, start, end))

    async def accepted(self, answer_ids: list[str]) -> int:
        return sum(1 for a in set(answer_ids) if self._accepts.get(a, (False,))[0])

    async def ratings(self, item_ids: list[str]) -> tuple[float, int]:
        found = [self._ratings[i] for i in set(item_ids) if i in self._ratings]
        total = sum(count for _, count, _ in found)
        stars = sum(average * count for average, count, _ in found)
        return (round(stars / total, 2) if total else 0.0), int(total)

    async def question_tags(self, question_ids: list[str]) -> list[list[str]]:
        questions = self._insights.questions_
        return [list(questions[q].tags) for q in dict.fromkeys(question_ids) if q in questions]

    async def badges(self, member_id: str, start: datetime, end: datetime) -> list[Award]:
        await asyncio.sleep(0)
        held = [a for a in self._badges.awards_of(member_id) if start <= a.time < end]
        return sorted(held, key=lambda a: a.time, reverse=True)[:BADGES_MAX]

    async def role_changes(self, member_id: str, end: datetime) -> list[RoleChange]:
        changes = [c for m, c in self._role_changes.values() if m == member_id and c.at < end]
        return sorted(changes, key=lambda c: c.at)[:READ_MAX]

    async def issue(
        self, summary_id: str, summary: ContributionSummary, requested_by: str, region: str, programme: str
    ) -> bool:
        await asyncio.sleep(0)
        if summary_id in self._summaries:
            return False
        self._summaries.add(summary_id)
        self.events.append(
            recognition_summary_issued(
                summary_id, summary, requested_by, region, programme, datetime.now(UTC)
            )
        )
        return True
