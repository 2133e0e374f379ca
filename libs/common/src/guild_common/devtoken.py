"""Print a development token: ``python -m guild_common.devtoken --sub alice``."""

from __future__ import annotations

import argparse

from guild_common.auth import issue_token
from guild_common.settings import ServiceSettings


def main() -> None:
    settings = ServiceSettings()
    parser = argparse.ArgumentParser(description="Print an HS256 development token for Guild.")
    parser.add_argument("--sub", required=True, help="member id the token speaks for")
    parser.add_argument("--name", default="", help="display name")
    parser.add_argument("--scope", action="append", default=[], help="extra scope, e.g. service")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    args = parser.parse_args()
    print(
        issue_token(
            args.sub,
            secret=settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            name=args.name,
            scopes=tuple(args.scope),
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
