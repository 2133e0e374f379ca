"""``python -m guild_content``: serve the content service."""

from __future__ import annotations

from guild_common.service import run_service
from guild_content.bootstrap import build
from guild_content.config import ContentSettings


def main() -> None:
    run_service(ContentSettings(), build)


if __name__ == "__main__":
    main()
