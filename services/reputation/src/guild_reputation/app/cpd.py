"""CPD credit for social learning: owners set a community's rules; qualifying events become credits
counted within the caps; learners reflect, read and export their log, and share their totals.

A credit is stored once (``<event id>:<rule>``, and once per member, activity and target), then counted:
its minutes go on the member's year counter (and month counter, with a monthly cap) by guarded ``$inc``;
if either refuses, what was counted is taken back and the credit is over the cap. Each step is
idempotent, so a crash is finished by the event's redelivery (or the learner's repeated reflection).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, NotFound, PermissionDenied, Validator
from guild_common.mongo import Document
from guild_common.pagination import Page, clamp_page_size
from guild_reputation.app.ports import CpdStore, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    MemberTotal,
    Totals,
    cpd_year,
    validate_reflection,
    validate_rules,
    year_bounds,
)
from guild_reputation.domain.cpd_exports import to_csv, to_html

OWNER = "owner"
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
LOG_PAGE_DEFAULT, LOG_PAGE_MAX = 50, 100
ID_MAX = 200


def _counters(credit: CpdCredit) -> tuple[tuple[str, Document], tuple[str, Document]]:
    base = {"community_id": credit.community_id, "member_id": credit.member_id}
    return (
        (
            f"y:{credit.community_id}:{credit.member_id}:{credit.cpd_year}",
            {**base, "kind": "year", "year": credit.cpd_year},
        ),
        (
            f"m:{credit.community_id}:{credit.member_id}:{credit.month}",
            {**base, "kind": "month", "month": credit.month},
        ),
    )


class CreditCounter:
    """Counts a credit within its community's caps, exactly once."""

    def __init__(self, store: CpdStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    async def _release(self, credit: CpdCredit) -> None:
        for counter_id, _ in _counters(credit):
            await self._store.release(counter_id, credit.id, credit.minutes)

    async def settle(self, credit: CpdCredit) -> CreditState:
        """Count a credit being counted (or finish what a crash left): COUNTED or OVER_CAP."""
        if credit.state is CreditState.OVER_CAP:
            await self._release(credit)  # a crash may have left minutes reserved
            return credit.state
        if credit.state is not CreditState.RESERVING:
            return credit.state
        rules = await self._store.rules(credit.community_id)
        (year_id, year_fields), (month_id, month_fields) = _counters(credit)
        fits = rules is not None and await self._store.reserve(
            year_id, year_fields, credit.id, credit.minutes, rules.year_cap
        )
        if fits and rules is not None and rules.month_cap:
            fits = await self._store.reserve(
                month_id, month_fields, credit.id, credit.minutes, rules.month_cap
            )
        state = CreditState.COUNTED if fits else CreditState.OVER_CAP
        if await self._store.finish(credit, state, self._clock()):
            if state is CreditState.OVER_CAP:
                await self._release(credit)
            return state
        settled = await self._store.get(credit.id)
        if settled is not None and settled.state is CreditState.OVER_CAP:
            await self._release(credit)
        return settled.state if settled else state


@dataclass(frozen=True, kw_only=True)
class LogPage(Page[CpdCredit]):
    """A page of the learner's log, with the totals of the year it is in."""

    totals: Totals
    cpd_year: int


@dataclass(frozen=True)
class Export:
    content: bytes
    content_type: str
    filename: str
    totals: Totals


@dataclass(frozen=True, kw_only=True)
class MemberTotals(Page[MemberTotal]):
    """A page of the totals members share, with how many members with minutes do not share them."""

    not_shared: int
    cpd_year: int


class CpdUseCases:
    def __init__(
        self,
        store: CpdStore,
        counter: CreditCounter,
        roles: RoleDirectory,
        visibility: Visibility,
        *,
        issuer: str,
        export_max: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._counter = counter
        self._roles = roles
        self._visibility = visibility
        self._issuer = issuer
        self._export_max = export_max
        self._clock = clock

    async def _require_owner(self, caller: Principal, community_id: str, what: str) -> None:
        await self._visibility.require_unhidden(caller, community_id)
        if await self._roles.role(community_id, caller.subject) != OWNER:
            raise PermissionDenied(
                f"only the community's owners {what}",
                reason="NOT_COMMUNITY_OWNER",
                metadata={"required_role": OWNER, "community_id": community_id},
            )

    @staticmethod
    def _community(community_id: str, required: bool = True) -> None:
        check = Validator()
        check.require(bool(community_id) or not required, "community_id", "must not be empty")
        check.require(len(community_id) <= ID_MAX, "community_id", f"at most {ID_MAX} characters")
        check.check()

    async def set_rules(
        self,
        caller: Principal,
        community_id: str,
        activities: Sequence[tuple[CpdActivity | None, int]],
        year_cap: int,
        month_cap: int,
        reflection_required: bool,
        year_start_month: int,
        time_zone: str = "",
    ) -> CpdRules:
        rules = validate_rules(
            community_id,
            activities,
            year_cap,
            month_cap,
            reflection_required,
            year_start_month,
            updated_by=caller.subject,
            at=self._clock(),
            time_zone=time_zone,
        )
        await self._require_owner(caller, community_id, "set its CPD rules")
        await self._store.put_rules(rules)
        return rules

    async def rules(self, caller: Principal, community_id: str) -> CpdRules | None:
        self._community(community_id)
        await self._visibility.require_unhidden(caller, community_id)
        return await self._store.rules(community_id)

    async def reflect(
        self, caller: Principal, credit_id_: str, learned: str, practice_change: str
    ) -> CpdCredit:
        check = Validator()
        check.require(bool(credit_id_), "credit_id", "must not be empty")
        check.require(len(credit_id_) <= ID_MAX, "credit_id", f"at most {ID_MAX} characters")
        check.check()
        reflection = validate_reflection(learned, practice_change, self._clock())
        credit = await self._store.get(credit_id_)
        if credit is None or credit.member_id != caller.subject:
            raise NotFound("no such CPD credit of yours", reason="CPD_CREDIT_NOT_FOUND")
        if credit.state is CreditState.PENDING:
            started = await self._store.start_reflection(credit.id, caller.subject, reflection)
            credit = started or await self._store.get(credit.id) or credit
        elif credit.reflection is None and credit.state is not CreditState.RESERVING:
            added = await self._store.add_reflection(credit.id, caller.subject, reflection)
            if added is None:
                raise FailedPrecondition(
                    "the credit has a reflection already", reason="CPD_ALREADY_REFLECTED"
                )
            return added
        elif credit.state is not CreditState.RESERVING:
            raise FailedPrecondition("the credit has a reflection already", reason="CPD_ALREADY_REFLECTED")
        state = await self._counter.settle(credit)
        return replace(credit, state=state)

    def _own(self, caller: Principal, member_id: str) -> str:
        if member_id and member_id != caller.subject:
            raise PermissionDenied(
                "a CPD log is read by its learner only", reason="NOT_CPD_LEARNER", metadata={}
            )
        return caller.subject

    async def _year(self, community_id: str, year: int) -> tuple[int, CpdRules | None]:
        """The CPD year asked for (0: the one running now, by the community's start month and time zone;
        without a community, the calendar year in UTC) and the community's rules."""
        check = Validator()
        check.require(year == 0 or 2000 <= year <= 2200, "cpd_year", "must be 0 or 2000 to 2200")
        check.check()
        rules = await self._store.rules(community_id) if community_id else None
        now = rules.year_of(self._clock()) if rules else cpd_year(self._clock(), 1)
        return (year or now), rules

    async def log(
        self, caller: Principal, member_id: str, year: int, community_id: str, page_size: int, page_token: str
    ) -> LogPage:
        self._community(community_id, required=False)
        learner = self._own(caller, member_id)
        size = clamp_page_size(page_size, LOG_PAGE_DEFAULT, LOG_PAGE_MAX)
        year, _ = await self._year(community_id, year)
        page = await self._store.page(learner, year, community_id, size, page_token)
        totals = await self._store.totals(learner, year, community_id)
        return LogPage(items=page.items, next_token=page.next_token, totals=totals, cpd_year=year)

    async def _period(
        self, year: int, rules: CpdRules | None, credits: Sequence[CpdCredit]
    ) -> tuple[dict[str, str], datetime, datetime]:
        """The time zone of each community in a statement, and the statement's period: the community's
        CPD year, or across communities from the earliest start month to the end of the latest."""
        if rules is not None:
            start, end = year_bounds(year, rules.year_start_month, rules.zone)
            return {rules.community_id: rules.time_zone}, start, end
        found = await self._store.rules_of(sorted({c.community_id for c in credits}))
        zones = {c: r.time_zone for c, r in found.items()}
        if not found:
            return zones, *year_bounds(year, 1)
        first = min(found.values(), key=lambda r: r.year_start_month)
        last = max(found.values(), key=lambda r: r.year_start_month)
        start = year_bounds(year, first.year_start_month, first.zone)[0]
        return zones, start, year_bounds(year, last.year_start_month, last.zone)[1]

    async def export(self, caller: Principal, year: int, community_id: str, fmt: str) -> Export:
        self._community(community_id, required=False)
        check = Validator()
        check.require(fmt in ("csv", "html"), "format", "must be CSV or HTML")
        check.check()
        learner = caller.subject
        year, rules = await self._year(community_id, year)
        credits = await self._store.log(learner, year, community_id, self._export_max + 1)
        if len(credits) > self._export_max:
            raise FailedPrecondition(
                f"more than {self._export_max} credits in the year: export one community at a time",
                reason="CPD_EXPORT_TOO_LARGE",
            )
        totals = await self._store.totals(learner, year, community_id)
        zones, start, end = await self._period(year, rules, credits)
        name = f"cpd-{_FILENAME_UNSAFE.sub('_', learner)[:40]}-{year}"
        if fmt == "csv":
            return Export(to_csv(credits, zones), "text/csv; charset=utf-8", f"{name}.csv", totals)
        page = to_html(
            credits,
            zones,
            learner=caller.name or learner,
            period_start=start,
            period_end=end,
            totals=totals,
            issued=self._clock(),
            issuer=self._issuer,
        )
        return Export(page, "text/html; charset=utf-8", f"{name}.html", totals)

    async def share(self, caller: Principal, community_id: str, shared: bool) -> datetime:
        self._community(community_id)
        await self._visibility.require_unhidden(caller, community_id)
        at = self._clock()
        await self._store.set_sharing(community_id, caller.subject, shared, at)
        return at

    async def member_totals(
        self, caller: Principal, community_id: str, year: int, page_size: int, page_token: str
    ) -> MemberTotals:
        self._community(community_id)
        size = clamp_page_size(page_size, LOG_PAGE_DEFAULT, LOG_PAGE_MAX)
        year, _ = await self._year(community_id, year)
        await self._require_owner(caller, community_id, "see its members' CPD totals")
        page = await self._store.shared_page(community_id, year, size, page_token)
        not_shared = await self._store.not_shared(community_id, year)
        return MemberTotals(
            items=page.items, next_token=page.next_token, not_shared=not_shared, cpd_year=year
        )
