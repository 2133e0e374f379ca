"""The character policy of names."""

from __future__ import annotations

import pytest

from guild_common.text import is_clean_name


@pytest.mark.parametrize("name", ["Ann Lee", "Zoë Ørsted", "李雷", "Data & AI 🚀", "O'Brien-Smith"])
def test_printable_names_pass(name: str) -> None:
    assert is_clean_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "a\x00b",
        "a\tb",
        "a\nb",
        "a\u200bb",
        "a\u200fb",
        "a\u202eb",
        "a\u2060b",
        "a\u2064b",
        "\ufeffa",
        "a\u2028b",
    ],
)
def test_control_zero_width_bidi_and_separators_are_refused(name: str) -> None:
    assert not is_clean_name(name)
