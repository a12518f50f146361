from __future__ import annotations

from neuronest.errors import Invalid

MAX_NAME = 200


def check_name(name: str, field: str = "name") -> str:
    """A display name: trimmed, 1 to 200 characters."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid(f"{field}: must be 1 to {MAX_NAME} characters", field=field)
    return name
