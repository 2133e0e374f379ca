"""A pilot's control group, learnt from community events."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_reputation.app.ports import PilotStore
from guild_reputation.domain.integration_events import PilotControlSet
from guild_reputation.domain.pilot import PilotControl


class PilotHandlers:
    def __init__(self, store: PilotStore) -> None:
        self._store = store

    async def pilot_control_set(self, e: PilotControlSet) -> None:
        await self._store.set_control(
            PilotControl(e.community_id, e.control_community_id, e.control_member_ids, e.version)
        )

    def handlers(self) -> dict[type, Handler]:
        return {PilotControlSet: self.pilot_control_set}
