"""``python -m guild_console``: serve the insights console over HTTP."""

from __future__ import annotations

import uvicorn

from guild_common.logging import configure_logging
from guild_console.app import create_app
from guild_console.config import ConsoleSettings, check_console_profile


def main() -> None:
    settings = ConsoleSettings()
    configure_logging(settings.service_name, settings.log_level)
    check_console_profile(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level,
        server_header=False,
        # Logs as JSON through the root logger (configure_logging); RequestLog writes one line per request.
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
