"""The character policy of names: display names, community names, titles.

A name may hold any printable character, spaces included, but none of: control characters (NUL, tab,
newline and the rest of Unicode category Cc), format characters (Cf: zero-width U+200B-U+200F, the
bidi embeddings and overrides U+202A-U+202E and isolates U+2066-U+2069, U+2060-U+2064, the byte
order mark U+FEFF, ...), line and paragraph separators (Zl, Zp), or lone surrogates (Cs). These make
one name look like another or reorder the text around it. Longer texts (bodies, descriptions) are
not held to it.
"""

from __future__ import annotations

import unicodedata

#: What a field violation says when a name breaks the policy.
NAME_POLICY = "must not contain control, zero-width, bidi-override or line-separator characters"

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_clean_name(value: str) -> bool:
    """Whether ``value`` keeps to the character policy of names."""
    return not any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value)
