"""Events decoded at the edge: CloudEvents in, typed event objects out.

A service names each event type it consumes once, with the protobuf message of its payload and a
function turning that message into the service's own event object (a frozen dataclass without protobuf).
Its ``app/`` handlers take those objects, in tables keyed by the object's class; :func:`bind` joins the
two into the ``event type -> handler`` table a :class:`~guild_common.events.consumer.ConsumerSpec` runs.

:func:`bind` checks the wiring when the service starts, so a mistake fails the start rather than an
event: every decoded type must be in the catalog generated from the protos
(:mod:`guild_common.events.catalog`) with the message the catalog names, and every handled class must
have a decoder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from guild_common.events.catalog import EVENT_MESSAGES
from guild_common.events.consumer import EventHandler, PermanentError
from guild_common.events.envelope import Envelope
from guild_common.events.meta import EventMeta

M = TypeVar("M", bound=Message)
E = TypeVar("E")
K = TypeVar("K")

#: A handler of one typed event.
Handler = Callable[[Any], Awaitable[None]]
#: Handlers keyed by the class of the event they take.
HandlerTable = Mapping[type, Handler]


class WiringError(Exception):
    """Decoders or handlers that do not fit the catalog or each other: a bug found at start-up."""


def event_meta(envelope: Envelope) -> EventMeta:
    return EventMeta(
        id=envelope.id,
        type=envelope.type,
        source=envelope.source,
        subject=envelope.subject,
        time=envelope.time,
        region=envelope.region,
        programme=envelope.programme,
    )


@dataclass(frozen=True)
class Decoder(Generic[M, E]):
    """How one event type's payload becomes an event object.

    ``convert`` may raise ``ValueError`` for a payload it cannot make sense of (an unknown role):
    like a payload that does not parse or lacks a ``required`` field, the event is dead-lettered."""

    message: type[M]
    event: type[E]
    convert: Callable[[M, EventMeta], E]
    required: Sequence[str] = ()

    def decode(self, envelope: Envelope) -> E:
        name = self.message.DESCRIPTOR.name
        try:
            message = envelope.payload(self.message)
        except DecodeError as exc:
            raise PermanentError(f"malformed {name}: {exc}") from exc
        missing = [field for field in self.required if not getattr(message, field)]
        if missing:
            raise PermanentError(f"{name} without {', '.join(missing)}")
        try:
            return self.convert(message, event_meta(envelope))
        except ValueError as exc:
            raise PermanentError(f"{name}: {exc}") from exc


#: A service's decoders keyed by the event type (``guild.<svc>.<name>.v<n>``) they read.
Decoders = Mapping[str, Decoder[Any, Any]]


def combine(*tables: Mapping[K, Handler]) -> dict[K, Handler]:
    """One handler per key, running the given tables' handlers of that key in table order.

    Keys are event classes for typed handlers, or event types for tables of envelope handlers (such as
    the consumer's table from :func:`bind` followed by sinks that take the CloudEvent itself)."""
    chains: dict[K, list[Handler]] = {}
    for table in tables:
        for key, handler in table.items():
            chains.setdefault(key, []).append(handler)

    def chained(handlers: list[Handler]) -> Handler:
        async def handle(event: Any) -> None:
            for handler in handlers:
                await handler(event)

        return handle

    return {key: chain[0] if len(chain) == 1 else chained(chain) for key, chain in chains.items()}


def check_decoders(decoders: Decoders) -> None:
    """Every decoded type is in the catalog, with the payload message the catalog names."""
    for event_type, decoder in decoders.items():
        expected = EVENT_MESSAGES.get(event_type)
        if expected is None:
            raise WiringError(f"{event_type} is not in the events catalog")
        actual = decoder.message.DESCRIPTOR.full_name
        if actual != expected:
            raise WiringError(f"{event_type} carries {expected}, not {actual}")


def bind(decoders: Decoders, handlers: HandlerTable) -> dict[str, EventHandler]:
    """The consumer's table: each event type whose class has a handler, decoded and then handled.

    Raises :class:`WiringError` for a decoder the catalog contradicts or a handled class no decoder makes."""
    check_decoders(decoders)
    made = {decoder.event for decoder in decoders.values()}
    orphans = sorted(kind.__name__ for kind in handlers if kind not in made)
    if orphans:
        raise WiringError(f"handlers for events no decoder makes: {', '.join(orphans)}")

    def run(decoder: Decoder[Any, Any], handler: Handler) -> EventHandler:
        async def handle(envelope: Envelope) -> None:
            await handler(decoder.decode(envelope))

        return handle

    return {
        event_type: run(decoder, handlers[decoder.event])
        for event_type, decoder in decoders.items()
        if decoder.event in handlers
    }


def event_types(decoders: Decoders, kinds: Iterable[type]) -> list[str]:
    """The event types whose decoders make one of ``kinds``."""
    wanted = set(kinds)
    return sorted(t for t, d in decoders.items() if d.event in wanted)
