"""Who may do what on the bus: one NATS user per service, allowed only the subjects its own code uses.

A service may publish its own events (``guild.*.*.<svc>.>``), manage its own stream, run ephemeral consumers
on its own stream, and create, read, pull from and acknowledge its own durable consumers (``<svc>_<stream>``,
or ``<svc>_<region>_<programme>_<stream>`` for a slice) on the streams it reads (``READS``). It receives only
on its own inbox prefix (``_INBOX_<user>``), so no service sees another's replies or deliveries. Everything
else is refused, and a connection without credentials is refused too. An optional admin user (tests, tools,
operators) may do anything.

The permissions are computed from the same functions that name streams and consumers, so they follow the
code. ``python -m guild_common.nats_access`` writes the server's ``authorization`` block and, for local
runs, the passwords::

    python -m guild_common.nats_access --dir .local/nats              # nats.conf, passwords.json, <svc>.env
    python -m guild_common.nats_access --password-env --out auth.conf # passwords from the server's env
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guild_common.events.consumer import ConsumerSpec
from guild_common.events.streams import stream_name

#: Every Guild service; each is one NATS user of the same name.
SERVICES: tuple[str, ...] = ("community", "content", "reputation", "notify")

#: The streams each service's consumers read (a consumer elsewhere is refused by the server).
READS: Mapping[str, tuple[str, ...]] = {
    "community": ("community", "reputation"),
    "content": ("community",),
    "reputation": ("community", "content"),
    "notify": ("community", "content", "reputation"),
}

#: The user tests and operator tools connect as: no restrictions.
ADMIN = "guild-admin"

JS_API = "$JS.API"


@dataclass(frozen=True)
class Slice:
    """The events one deployment consumes: ``GUILD_REGION_FILTER`` and ``GUILD_PROGRAMME_FILTER``."""

    region: str = "*"
    programme: str = "*"

    @classmethod
    def parse(cls, text: str) -> Slice:
        """``<region>.<programme>``, e.g. ``emea.*``."""
        region, _, programme = text.partition(".")
        return cls(region or "*", programme or "*")


WHOLE = Slice()


def inbox_prefix(user: str) -> str:
    """The inbox prefix of ``user``'s connections: the only subjects it may receive on."""
    return f"_INBOX_{user}"


def durable_name(service: str, source: str, slice_: Slice = WHOLE) -> str:
    return ConsumerSpec(
        name=service, source_service=source, handlers={}, region=slice_.region, programme=slice_.programme
    ).durable


def check_reads(service: str, source: str) -> None:
    """Raise if ``service`` is one of Guild's services and ``READS`` does not let it read ``source``."""
    if service in READS and source not in READS[service]:
        raise ValueError(
            f"{service} consumes the {source} stream, which guild_common.nats_access.READS does not grant it;"
            " add it there so that its NATS user may"
        )


def permissions(service: str, slices: Iterable[Slice] = (WHOLE,)) -> dict[str, dict[str, list[str]]]:
    """The NATS ``permissions`` of ``service``'s user, for deployments consuming ``slices``."""
    own = stream_name(service)
    publish = [
        f"guild.*.*.{service}.>",
        f"{JS_API}.STREAM.CREATE.{own}",
        f"{JS_API}.STREAM.UPDATE.{own}",
        f"{JS_API}.STREAM.INFO.{own}",
        # Ephemeral (unnamed) consumers on its own stream, e.g. reputation following its points.
        f"{JS_API}.CONSUMER.CREATE.{own}",
        f"{JS_API}.CONSUMER.INFO.{own}.*",
        f"$JS.FC.{own}.>",
    ]
    for source in READS[service]:
        stream = stream_name(source)
        for slice_ in dict.fromkeys(slices):
            durable = durable_name(service, source, slice_)
            publish += [
                f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}",
                f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.>",
                f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
                f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
                f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
                f"$JS.ACK.{stream}.{durable}.>",
            ]
    return {
        "publish": {"allow": list(dict.fromkeys(publish))},
        "subscribe": {"allow": [f"{inbox_prefix(service)}.>"]},
    }


@dataclass(frozen=True)
class Password:
    """A password in the configuration: the value itself, or a ``$VARIABLE`` the server reads from its
    environment (for passwords mounted from Kubernetes Secrets)."""

    value: str
    from_env: bool = False

    def render(self) -> str:
        return f"${self.value}" if self.from_env else json.dumps(self.value)


def password_variable(user: str) -> str:
    """The server's environment variable holding ``user``'s password, e.g. ``NATS_PASSWORD_COMMUNITY``."""
    return "NATS_PASSWORD_" + user.upper().replace("-", "_")


def authorization(
    passwords: Mapping[str, Password],
    *,
    slices: Iterable[Slice] = (WHOLE,),
    timeout_seconds: float = 2.0,
) -> str:
    """The server's ``authorization`` block: every service in ``passwords`` with its permissions, and
    ``ADMIN`` without restrictions if it is there. Anonymous connections are refused."""
    slices = tuple(slices)
    lines = ["authorization {", f"  timeout: {timeout_seconds:g}", "  users: ["]
    for user, password in passwords.items():
        lines.append(f"    {{user: {json.dumps(user)}, password: {password.render()}")
        if user != ADMIN:
            rules = json.dumps(permissions(user, slices), indent=2).replace("\n", "\n      ")
            lines.append(f"      permissions: {rules}")
        lines.append("    }")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def header(slices: Sequence[Slice]) -> str:
    names = ", ".join(f"{s.region}.{s.programme}" for s in slices)
    return (
        "# Generated by `python -m guild_common.nats_access` from the stream and consumer names in code:\n"
        f"# do not edit. One user per service; consumer slices: {names}.\n"
    )


def load_or_create_passwords(path: Path, users: Iterable[str]) -> dict[str, str]:
    """The passwords in ``path`` (JSON), with a new random one for every user that has none yet."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    passwords = {user: known.get(user) or secrets.token_urlsafe(32) for user in users}
    if passwords != known:
        _write_private(path, json.dumps(passwords, indent=2) + "\n")
    return passwords


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def write_local(directory: Path, *, slices: Sequence[Slice] = (WHOLE,)) -> dict[str, str]:
    """Write ``nats.conf`` (the authorization block, with passwords), ``passwords.json`` and one
    ``<svc>.env`` per service (``GUILD_NATS_USER``, ``GUILD_NATS_PASSWORD``) into ``directory``; passwords
    already there are kept. Returns the passwords by user."""
    passwords = load_or_create_passwords(directory / "passwords.json", (*SERVICES, ADMIN))
    text = header(slices) + authorization(
        {user: Password(value) for user, value in passwords.items()}, slices=slices
    )
    _write_private(directory / "nats.conf", text)
    for service in SERVICES:
        _write_private(
            directory / f"{service}.env",
            f"GUILD_NATS_USER={service}\nGUILD_NATS_PASSWORD={passwords[service]}\n",
        )
    return passwords


def render_from_env(slices: Sequence[Slice]) -> str:
    """The authorization block with every password read from the server's environment
    (``NATS_PASSWORD_<USER>``), for a configuration that may be committed."""
    return header(slices) + authorization(
        {user: Password(password_variable(user), from_env=True) for user in (*SERVICES, ADMIN)},
        slices=slices,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--dir", type=Path, help="write nats.conf, passwords.json and <svc>.env here")
    target.add_argument("--out", type=Path, help="with --password-env: write the block to this file")
    parser.add_argument(
        "--password-env", action="store_true", help="passwords from the server's NATS_PASSWORD_<USER>"
    )
    parser.add_argument(
        "--slice",
        action="append",
        type=Slice.parse,
        default=[],
        help="<region>.<programme> a deployment consumes (repeatable; default *.*)",
    )
    args = parser.parse_args(argv)
    slices: list[Slice] = args.slice or [WHOLE]
    if args.dir is not None:
        write_local(args.dir, slices=slices)
    else:
        if not args.password_env:
            parser.error("--out writes only a configuration without passwords: add --password-env")
        args.out.write_text(render_from_env(slices))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
