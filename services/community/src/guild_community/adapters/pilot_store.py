"""Pilot controls in MongoDB: one document per community (``_id``), changed under its version guard with
its pilot_control_set event in the same write."""

from __future__ import annotations

import dataclasses

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.atomic import VERSION, NoChange, update_guarded
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_indexes,
    outbox_update,
)
from guild_common.mongo import Document, StoreSchema
from guild_community.adapters.outbound_events import pilot_control_envelope
from guild_community.domain.pilot import PilotControl

PILOT_CONTROLS = "pilot_controls"

SCHEMA = StoreSchema(
    indexes=[
        *outbox_indexes([PILOT_CONTROLS]),
    ],
    outbox_collections=[PILOT_CONTROLS],
)


def _control(doc: Document) -> PilotControl:
    return PilotControl(
        community_id=doc["_id"],
        control_community_id=doc.get("control_community_id", ""),
        control_member_ids=tuple(doc.get("control_member_ids", [])),
        set_by=doc.get("set_by", ""),
        set_time=doc["set_time"],
        version=int(doc.get(VERSION, 0)),
    )


class MongoPilotControls:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._controls = db[PILOT_CONTROLS]
        self._on_events = on_events

    async def set_control(self, control: PilotControl, region: str, programme: str) -> PilotControl:
        """Store ``control`` as the community's next version, with its event."""

        def build(doc: Document | None) -> Document | NoChange:
            version = int((doc or {}).get(VERSION, 0)) + 1
            event = pilot_control_envelope(dataclasses.replace(control, version=version), region, programme)
            fields = {
                "control_community_id": control.control_community_id,
                "control_member_ids": list(control.control_member_ids),
                "set_by": control.set_by,
                "set_time": control.set_time,
            }
            return merge_updates({"$set": fields}, outbox_update([event]))

        after = await update_guarded(self._controls, control.community_id, build, projection={"outbox": 0})
        self._on_events(PILOT_CONTROLS, control.community_id)
        assert after is not None
        return _control(after)

    async def get_control(self, community_id: str) -> PilotControl | None:
        doc = await self._controls.find_one({"_id": community_id}, {"outbox": 0})
        return _control(doc) if doc is not None else None
