"""Outgoing mail: SMTP when `NEURONEST_SMTP_URL` is set, otherwise the server log."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import aiosmtplib

from neuronest.config import Settings

log = logging.getLogger("neuronest.mail")


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> None:
    if not settings.smtp_url:
        if settings.env == "production":
            # Mails carry secrets (reset tokens): only at a level production logs do not keep.
            log.warning("mail to %s (no NEURONEST_SMTP_URL set): %s (body at DEBUG)", to, subject)
            log.debug("mail to %s\nSubject: %s\n\n%s", to, subject, body)
        else:
            log.warning(
                "mail to %s (no NEURONEST_SMTP_URL set)\nSubject: %s\n\n%s", to, subject, body
            )
        return
    url = urlparse(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    await aiosmtplib.send(
        message,
        hostname=url.hostname or "localhost",
        port=url.port or (465 if url.scheme == "smtps" else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=url.scheme == "smtps",
        start_tls=url.scheme == "smtp+starttls",
        timeout=30,
    )
