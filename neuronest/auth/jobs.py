from __future__ import annotations

from typing import Any

from neuronest.auth import service
from neuronest.jobs.registry import job
from neuronest.kit.mail import send_mail


@job
async def send_password_reset(ctx: dict[str, Any], reset_id: str) -> None:
    services = ctx["services"]
    found = await service.reset_link(services, reset_id)
    if found is None:
        return
    user, link, secret = found
    await send_mail(
        services.settings,
        to=user.email,
        subject="Reset your NeuroNest password",
        body=(
            f"Hello {user.name or user.email},\n\n"
            f"Use this link within the hour to choose a new password:\n{link}\n\n"
            f"Reset token: {secret}\n\n"
            "If you did not ask for this, ignore this mail."
        ),
    )
