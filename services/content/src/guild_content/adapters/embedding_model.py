"""Question text to a meaning vector with WordLlama, whose weights and tokenizer ship inside its wheel.

The model is read from the installed package only: the tokenizer is looked up where the package keeps
it (passed as the cache directory) and downloads are disabled, so no network is used at any time. It is
loaded once per process (about 2 s, 16 MB of weights) and shared; an embedding of a bounded question
text takes a fraction of a millisecond (see docs/duplicates.md), so it runs on the calling thread.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from guild_content.domain.similarity import DIM, Floats, unit


@cache
def _model() -> Any:
    import wordllama  # type: ignore[import-untyped]  # imported here: loading it is the slow part of starting the service

    package = Path(wordllama.__file__).parent
    return wordllama.WordLlama.load(config="l2_supercat", dim=DIM, cache_dir=package, disable_download=True)


class WordLlamaEmbedder:
    """Embeds text as a unit vector of ``DIM`` components."""

    def __init__(self) -> None:
        self._model = _model()

    def embed(self, text: str) -> Floats:
        vectors = self._model.embed([text], norm=True)
        return unit(np.asarray(vectors[0], dtype=np.float32))

    def embed_many(self, texts: list[str]) -> list[Floats]:
        """Unit vectors of many texts at once (bulk loads)."""
        vectors = self._model.embed(texts, norm=True, batch_size=256)
        return [unit(np.asarray(v, dtype=np.float32)) for v in vectors]
