from __future__ import annotations

from dataclasses import dataclass

from neuronest.errors import Invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        if self.offset < 0:
            raise Invalid("offset must not be negative", field="offset")
