"""Fixtures shared by the notify service tests."""

from services.notify.tests.support import any_stub, dbs, events, memory_stub, stub

__all__ = ["any_stub", "dbs", "events", "memory_stub", "stub"]
