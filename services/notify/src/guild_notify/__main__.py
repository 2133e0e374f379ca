"""``python -m guild_notify``: serve the notify service."""

from __future__ import annotations

from guild_common.service import run_service
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings


def main() -> None:
    run_service(NotifySettings(), build)


if __name__ == "__main__":
    main()
