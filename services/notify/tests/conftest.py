"""Fixtures shared by the notify service tests."""

from services.notify.tests.support import events, stub

__all__ = ["events", "stub"]
