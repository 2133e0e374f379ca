"""``python -m guild_reputation``: serve the reputation service."""

from __future__ import annotations

from guild_common.service import run_service
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings


def main() -> None:
    run_service(ReputationSettings(), build)


if __name__ == "__main__":
    main()
