"""The CPD RPCs of the ReputationService servicer, and their proto<->domain mappers."""

from __future__ import annotations

import grpc

from guild.reputation.v1 import cpd_pb2 as pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild_common.auth import current_principal
from guild_common.errors import Unavailable
from guild_common.prototime import to_timestamp
from guild_reputation.app.cpd import CpdUseCases
from guild_reputation.domain.cpd import CpdActivity, CpdCredit, CpdRules, CreditState, Totals

ACTIVITY_TO_PB = {
    CpdActivity.ANSWER_ACCEPTED: pb.CPD_ACTIVITY_ANSWER_ACCEPTED,
    CpdActivity.RESOURCE_REVIEWED: pb.CPD_ACTIVITY_RESOURCE_REVIEWED,
    CpdActivity.REFLECTION_SURVEY: pb.CPD_ACTIVITY_REFLECTION_SURVEY,
    CpdActivity.COLLECTION_PUBLISHED: pb.CPD_ACTIVITY_COLLECTION_PUBLISHED,
}
ACTIVITY_FROM_PB = {value: activity for activity, value in ACTIVITY_TO_PB.items()}
_STATE_TO_PB = {
    CreditState.PENDING: pb.CPD_CREDIT_STATE_PENDING_REFLECTION,
    CreditState.RESERVING: pb.CPD_CREDIT_STATE_PENDING_REFLECTION,
    CreditState.COUNTED: pb.CPD_CREDIT_STATE_COUNTED,
    CreditState.OVER_CAP: pb.CPD_CREDIT_STATE_OVER_CAP,
}
_FORMAT_FROM_PB = {
    pb.CPD_EXPORT_FORMAT_UNSPECIFIED: "csv",
    pb.CPD_EXPORT_FORMAT_CSV: "csv",
    pb.CPD_EXPORT_FORMAT_HTML: "html",
}


def rules_message(community_id: str, rules: CpdRules | None) -> pb.CpdRules:
    if rules is None:
        return pb.CpdRules(community_id=community_id, enabled=False)
    message = pb.CpdRules(
        community_id=rules.community_id,
        activities=[
            pb.CpdActivityRule(activity=ACTIVITY_TO_PB[a], minutes=m)
            for a in CpdActivity
            if (m := rules.minutes.get(a))
        ],
        year_cap_minutes=rules.year_cap,
        month_cap_minutes=rules.month_cap,
        reflection_required=rules.reflection_required,
        year_start_month=rules.year_start_month,
        updated_by=rules.updated_by,
        enabled=True,
        time_zone=rules.time_zone,
    )
    if rules.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(rules.update_time))
    return message


def credit_message(c: CpdCredit) -> pb.CpdCredit:
    message = pb.CpdCredit(
        credit_id=c.id,
        community_id=c.community_id,
        member_id=c.member_id,
        activity=ACTIVITY_TO_PB[c.activity],
        minutes=c.minutes,
        state=_STATE_TO_PB[c.state],
        cpd_year=c.cpd_year,
        activity_time=to_timestamp(c.time),
        description=c.description,
        evidence_url=c.evidence_url,
        target_id=c.target_id,
    )
    if c.reflection is not None:
        message.reflection.CopyFrom(
            pb.CpdReflection(
                learned=c.reflection.learned,
                practice_change=c.reflection.practice_change,
                reflect_time=to_timestamp(c.reflection.time),
            )
        )
    return message


def totals_message(t: Totals) -> pb.CpdTotals:
    return pb.CpdTotals(
        counted_minutes=t.counted_minutes,
        pending_minutes=t.pending_minutes,
        counted_credits=t.counted_credits,
        pending_credits=t.pending_credits,
        over_cap_credits=t.over_cap_credits,
        by_activity=[pb.CpdActivityMinutes(activity=ACTIVITY_TO_PB[a], minutes=m) for a, m in t.by_activity],
    )


class CpdRpcs:
    """Mixed into the ReputationService servicer."""

    _cpd: CpdUseCases | None = None

    def _cpd_use_cases(self) -> CpdUseCases:
        if self._cpd is None:
            raise Unavailable("CPD is not configured", reason="CPD_UNAVAILABLE")
        return self._cpd

    async def SetCpdRules(
        self, request: api.SetCpdRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.SetCpdRulesResponse:
        r = request.rules
        rules = await self._cpd_use_cases().set_rules(
            current_principal(),
            request.community_id,
            [(ACTIVITY_FROM_PB.get(a.activity), a.minutes) for a in r.activities],
            r.year_cap_minutes,
            r.month_cap_minutes,
            r.reflection_required,
            r.year_start_month,
            r.time_zone,
        )
        return api.SetCpdRulesResponse(rules=rules_message(request.community_id, rules))

    async def GetCpdRules(
        self, request: api.GetCpdRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.GetCpdRulesResponse:
        rules = await self._cpd_use_cases().rules(current_principal(), request.community_id)
        return api.GetCpdRulesResponse(rules=rules_message(request.community_id, rules))

    async def AddCpdReflection(
        self, request: api.AddCpdReflectionRequest, context: grpc.aio.ServicerContext
    ) -> api.AddCpdReflectionResponse:
        credit = await self._cpd_use_cases().reflect(
            current_principal(),
            request.credit_id,
            request.reflection.learned,
            request.reflection.practice_change,
        )
        return api.AddCpdReflectionResponse(credit=credit_message(credit))

    async def ListCpdLog(
        self, request: api.ListCpdLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCpdLogResponse:
        page = await self._cpd_use_cases().log(
            current_principal(),
            request.member_id,
            request.cpd_year,
            request.community_id,
            request.page_size,
            request.page_token,
        )
        return api.ListCpdLogResponse(
            credits=[credit_message(c) for c in page.credits],
            totals=totals_message(page.totals),
            next_page_token=page.next_page_token,
            cpd_year=page.cpd_year,
        )

    async def ExportCpdLog(
        self, request: api.ExportCpdLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ExportCpdLogResponse:
        export = await self._cpd_use_cases().export(
            current_principal(),
            request.cpd_year,
            request.community_id,
            _FORMAT_FROM_PB.get(pb.CpdExportFormat.ValueType(request.format), ""),
        )
        return api.ExportCpdLogResponse(
            content=export.content,
            content_type=export.content_type,
            filename=export.filename,
            totals=totals_message(export.totals),
        )

    async def SetCpdSharing(
        self, request: api.SetCpdSharingRequest, context: grpc.aio.ServicerContext
    ) -> api.SetCpdSharingResponse:
        at = await self._cpd_use_cases().share(current_principal(), request.community_id, request.shared)
        return api.SetCpdSharingResponse(
            community_id=request.community_id, shared=request.shared, update_time=to_timestamp(at)
        )

    async def ListCpdMemberTotals(
        self, request: api.ListCpdMemberTotalsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCpdMemberTotalsResponse:
        view = await self._cpd_use_cases().member_totals(
            current_principal(), request.community_id, request.cpd_year, request.page_size, request.page_token
        )
        return api.ListCpdMemberTotalsResponse(
            totals=[
                pb.CpdMemberTotal(
                    member_id=t.member_id,
                    counted_minutes=t.counted_minutes,
                    counted_credits=t.counted_credits,
                )
                for t in view.totals
            ],
            not_shared_members=view.not_shared,
            next_page_token=view.next_page_token,
            cpd_year=view.cpd_year,
        )
