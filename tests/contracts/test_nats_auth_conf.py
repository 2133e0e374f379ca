"""The NATS users of deploy/k8s are those the code and the overlays' slices need."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from guild_common.nats_access import Slice

TOOL = Path(__file__).resolve().parents[2] / "tools" / "k8s" / "nats_auth.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nats_auth", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_nats_users_are_fresh() -> None:
    tool = _tool()
    assert tool.AUTH_CONF.read_text() == tool.rendered()


def test_every_overlay_slice_may_read_its_durables() -> None:
    slices = _tool().deployed_slices()
    assert Slice("emea", "*") in slices
    assert Slice("*", "healthcare_cpd") in slices
    text = _tool().AUTH_CONF.read_text()
    assert "$JS.API.CONSUMER.MSG.NEXT.GUILD_COMMUNITY.content_emea_all_GUILD_COMMUNITY" in text
    assert "password: $NATS_PASSWORD_NOTIFY" in text
