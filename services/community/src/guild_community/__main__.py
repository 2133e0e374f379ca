"""``python -m guild_community``: serve the community service."""

from __future__ import annotations

from guild_common.service import run_service
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings


def main() -> None:
    run_service(CommunitySettings(), build)


if __name__ == "__main__":
    main()
