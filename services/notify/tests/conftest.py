"""Fixtures shared by the notify service tests."""

from services.notify.tests.support import dbs, events, stub

__all__ = ["dbs", "events", "stub"]
