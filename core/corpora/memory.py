"""A corpus held in memory: texts that are not files (materialised mixtures, tests)."""
from __future__ import annotations

import hashlib

from core.corpora.spec import Document


class InMemoryCorpus:
    """Documents given as strings, with the corpus protocol used by :mod:`core.pipeline`.

    Args:
        name: corpus name (also the prefix of each ``doc_id``: ``"<name>:<i>"``).
        texts: the documents, in order.
    """

    def __init__(self, name: str, texts: list[str]):
        self.name = name
        self._docs = [Document(f"{name}:{i}", t) for i, t in enumerate(texts)]

    def documents(self) -> list[Document]:
        return self._docs

    def available(self) -> bool:
        return True

    def install_hint(self) -> None:
        return None

    def fingerprint(self) -> str:
        """sha256 hex of the texts (NUL-separated)."""
        return hashlib.sha256("\x00".join(d.text for d in self._docs).encode()).hexdigest()
