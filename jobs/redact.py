"""Secret scrubbing, used by every path that returns or writes text.

Values shorter than MIN_SECRET_LENGTH are not scrubbed: replacing every "1" or "a" in a log would destroy it and
hide nothing worth hiding. Longer values are replaced wherever they occur, inside other words too.
"""

from __future__ import annotations

from collections.abc import Iterable

from jobs.models import REDACTED

MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces secret values with `<redacted>` in text, bytes and argv lists.

    Example:
        >>> Redactor(["hf_abc123"]).text("token=hf_abc123")
        'token=<redacted>'
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        self._values = sorted(values, key=len, reverse=True)
        self._bytes = [v.encode() for v in self._values]
        self.longest = len(self._bytes[0]) if self._bytes else 0

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def bytes(self, data: bytes) -> bytes:
        for value in self._bytes:
            if value in data:
                data = data.replace(value, REDACTED.encode())
        return data

    def argv(self, argv: Iterable[str]) -> list[str]:
        return [self.text(arg) for arg in argv]

    def mapping(self, values: dict[str, str]) -> dict[str, str]:
        return {key: self.text(value) for key, value in values.items()}
