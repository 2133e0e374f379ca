"""Guild notify service: inbox, live stream, preferences, email, digests, broadcasts and webhooks."""
