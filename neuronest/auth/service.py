"""Accounts: registration, login, profile, passwords and token revocation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Subquery
from tortoise.transactions import in_transaction

from neuronest.auth.models import PasswordResetToken, RevokedToken, User
from neuronest.config import rate_limit
from neuronest.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from neuronest.events.bus import Message
from neuronest.kit.ratelimit import per_window
from neuronest.kit.security import (
    BCRYPT_MAX_BYTES,
    TokenClaims,
    digest,
    hash_password,
    issue_token,
    new_secret,
    read_token,
    verify_password,
)
from neuronest.kit.time import utcnow
from neuronest.observability.metrics import LOGIN_FAILURES
from neuronest.services import Services

log = logging.getLogger(__name__)

MIN_PASSWORD_BYTES = 8
MAX_NAME_LENGTH = 200
# Longer than any address email-validator accepts: refused without parsing it.
MAX_EMAIL_LENGTH = 320
FORGOT_PASSWORD_MESSAGE = "If the email exists, a password reset link will be sent."
_dummy_hashes: dict[int, str] = {}


@dataclass(frozen=True)
class Session:
    """A logged-in user and the token that proved it."""

    user: User
    claims: TokenClaims


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user: User
    token_type: str = "bearer"


def auth_channel(user_id: object) -> str:
    return f"auth:{user_id}"


def profile_channel(user_id: object) -> str:
    return f"user:{user_id}"


def normalize_email(email: str, field: str = "email") -> str:
    """The one spelling of an address under which it is stored and looked up (Unicode NFC,
    lower case); every path that takes an email goes through here."""
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise Invalid(f"{field}: must be at most {MAX_EMAIL_LENGTH} characters", field=field)
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise Invalid(f"{field}: {error}", field=field) from None


def lookup_email(email: str) -> str:
    """The normalised address, or for something that is not an address a key that matches no
    user, so that login and forgot-password answer it exactly like an unknown address."""
    try:
        return normalize_email(email)
    except Invalid:
        return "invalid:" + digest(email)


def check_password(password: str, field: str = "password") -> str:
    size = len(password.encode())
    if size < MIN_PASSWORD_BYTES:
        raise Invalid(f"{field}: must be at least {MIN_PASSWORD_BYTES} characters", field=field)
    if size > BCRYPT_MAX_BYTES:
        raise Invalid(f"{field}: must be at most {BCRYPT_MAX_BYTES} bytes", field=field)
    return password


def check_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"name: must be at most {MAX_NAME_LENGTH} characters", field="name")
    return name


async def _issue(services: Services, user: User) -> IssuedToken:
    settings = services.settings
    token, _ = issue_token(
        user_id=str(user.id),
        version=user.token_version,
        ttl=settings.access_token_ttl,
        secret=services.secret_key,
    )
    return IssuedToken(access_token=token, expires_in=settings.access_token_ttl, user=user)


async def register(
    services: Services, *, email: str, password: str, name: str = "", client: str
) -> IssuedToken:
    limit = rate_limit(services.settings.register_address_limit)
    await services.rate_limits.hit(
        limit, "register", client, message="Too many registrations; try again later"
    )
    email = normalize_email(email)
    check_password(password)
    name = check_name(name)
    if await User.filter(email=email).exists():
        raise Conflict("A user with this email already exists")
    password_hash = await hash_password(password, services.settings.bcrypt_rounds)
    try:
        user = await User.create(email=email, name=name, password_hash=password_hash)
    except IntegrityError:
        raise Conflict("A user with this email already exists") from None
    return await _issue(services, user)


async def _dummy_hash(rounds: int) -> str:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = await hash_password(new_secret(), rounds)
    return _dummy_hashes[rounds]


async def login(services: Services, *, email: str, password: str, client: str) -> IssuedToken:
    settings = services.settings
    limits = services.rate_limits
    email = lookup_email(email)
    # Each attempt is counted before its password is checked and given back when it succeeds:
    # what remains are failures, and concurrent guesses cannot pass the limit together.
    counted = [
        (rate_limit(settings.login_address_limit), ("login-address", client)),
        (per_window(settings.login_max_failures, settings.login_failure_window), ("login", email)),
    ]
    try:
        for limit, key in counted:
            await limits.hit(limit, *key, message="Too many failed login attempts; try again later")
    except AppError:
        LOGIN_FAILURES.labels("rate_limited").inc()
        raise
    user = await User.get_or_none(email=email)
    # An unknown email still costs one bcrypt check, so timing does not reveal accounts.
    password_hash = user.password_hash if user else await _dummy_hash(settings.bcrypt_rounds)
    password_ok = len(password.encode()) <= BCRYPT_MAX_BYTES and await verify_password(
        password, password_hash
    )
    if user is None or not password_ok:
        LOGIN_FAILURES.labels("bad_credentials").inc()
        raise Unauthenticated("Incorrect email or password")
    for limit, key in counted:
        await limits.refund(limit, *key)
    if not user.is_active:
        LOGIN_FAILURES.labels("inactive").inc()
        raise Forbidden("This account is inactive")
    return await _issue(services, user)


async def authenticate(services: Services, token: str, *, fresh: bool = False) -> Session:
    """The session behind a bearer token; revoked, expired or forged tokens are refused.

    A session verified before comes from the process's cache (auth/sessions.py) once the bus has
    delivered every revocation published before this call; `fresh` reads the database anyway."""
    cache = services.sessions
    claims = cache.claims(token) or read_token(token, services.secret_key)
    if claims is None:
        raise Unauthenticated("Invalid or expired token")
    if not fresh and cache.holds(claims) and await services.bus.sync():
        cached = cache.get(claims)
        if cached is not None:
            return Session(user=cached, claims=claims)
    generation = cache.generation
    # One round trip: the user, and whether this token was logged out.
    row = (
        await User.filter(id=claims.user_id)
        .annotate(revoked=Subquery(RevokedToken.filter(jti=claims.jti).values("jti")))
        .first()
    )
    try:
        user = _verified(row, claims)
    except AppError:
        cache.discard(claims.user_id)  # the row changed, maybe without an event
        raise
    cache.put(claims, user, generation, token)
    return Session(user=user, claims=claims)


def _verified(user: User | None, claims: TokenClaims) -> User:
    if user is None:
        raise Unauthenticated("Invalid or expired token")
    # Deactivation also revokes every token: an inactive account says so rather than "revoked".
    if not user.is_active:
        raise Forbidden("This account is inactive")
    if user.token_version != claims.version:
        raise Unauthenticated("Invalid or expired token")
    if getattr(user, "revoked", None) is not None:
        raise Unauthenticated("Token has been revoked")
    return user


async def _changed(
    services: Services, user_id: object, channel: str | None = None, event: Message | None = None
) -> None:
    """After a change to a user's row or tokens: the sessions cached of the user are forgotten
    here at once and in every other process through the bus, then `event` goes out on
    `channel` (open websockets and subscriptions follow it)."""
    sessions = services.sessions
    sessions.forget(user_id)
    await services.bus.publish(sessions.channel, {"user_id": str(user_id)})
    if channel is not None and event is not None:
        await services.bus.publish(channel, event)


async def update_me(
    services: Services, *, actor: User, name: str | None = None, email: str | None = None
) -> User:
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = check_name(name)
    if email is not None:
        changes["email"] = normalize_email(email)
        if (
            changes["email"] != actor.email
            and await User.filter(email=changes["email"]).exclude(id=actor.id).exists()
        ):
            raise Conflict("A user with this email already exists")
    if changes:
        actor.update_from_dict(changes)
        try:
            await actor.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise Conflict("A user with this email already exists") from None
        await _changed(services, actor.id, profile_channel(actor.id), {"type": "profile"})
    return actor


async def _set_password(services: Services, user: User, password: str) -> None:
    """Sets the password, revokes every earlier access token and voids every reset token."""
    user.password_hash = await hash_password(password, services.settings.bcrypt_rounds)
    async with in_transaction():
        await User.filter(id=user.id).update(
            password_hash=user.password_hash, token_version=F("token_version") + 1
        )
        await PasswordResetToken.filter(user_id=user.id, used_at=None).update(used_at=utcnow())
    await user.refresh_from_db(fields=["token_version"])
    await _changed(
        services,
        user.id,
        auth_channel(user.id),
        {"type": "revoked", "below_version": user.token_version},
    )


async def change_password(
    services: Services, *, actor: User, current_password: str, new_password: str
) -> None:
    check_password(new_password, "new_password")
    if len(current_password.encode()) > BCRYPT_MAX_BYTES or not await verify_password(
        current_password, actor.password_hash
    ):
        raise Invalid("current_password: is incorrect", field="current_password")
    await _set_password(services, actor, new_password)


async def logout(services: Services, *, session: Session) -> None:
    expires_at = datetime.fromtimestamp(session.claims.expires_at, UTC)
    await RevokedToken.get_or_create(
        jti=session.claims.jti, defaults={"user_id": session.user.id, "expires_at": expires_at}
    )
    await RevokedToken.filter(expires_at__lt=utcnow()).delete()
    await _changed(
        services,
        session.user.id,
        auth_channel(session.user.id),
        {"type": "revoked", "jti": session.claims.jti},
    )


def is_revoked_by(event: dict[str, object], claims: TokenClaims) -> bool:
    if event.get("type") not in ("revoked", "deactivated"):
        return False
    if event.get("jti") == claims.jti:
        return True
    below = event.get("below_version")
    return isinstance(below, int) and claims.version < below


def session_end(event: dict[str, object], claims: TokenClaims) -> AppError | None:
    """Why an event of the user's auth channel ends the session of `claims`, if it does."""
    if not is_revoked_by(event, claims):
        return None
    if event.get("type") == "deactivated":
        return Forbidden("This account is inactive")
    return Unauthenticated("Token has been revoked")


async def set_active(services: Services, *, email: str, active: bool) -> User:
    """Deactivation refuses the account's logins and revokes every token it holds, ending its
    open websockets at once; reactivation lets it log in again (with new tokens)."""
    user = await User.get_or_none(email=normalize_email(email))
    if user is None:
        raise NotFound("No user with this email")
    if active:
        await User.filter(id=user.id).update(is_active=True)
    else:
        await User.filter(id=user.id).update(is_active=False, token_version=F("token_version") + 1)
    await user.refresh_from_db(fields=["is_active", "token_version"])
    if active:
        await _changed(services, user.id)
    else:
        await _changed(
            services,
            user.id,
            auth_channel(user.id),
            {"type": "deactivated", "below_version": user.token_version},
        )
    return user


async def forgot_password(services: Services, *, email: str, client: str) -> str:
    settings = services.settings
    limits = services.rate_limits
    await limits.hit(
        rate_limit(settings.forgot_password_address_limit),
        "forgot-address",
        client,
        message="Too many password reset requests; try again later",
    )
    email = lookup_email(email)
    # Over the limit of one address, requests are dropped without a word: the answer stays the
    # one every address gets, known or not.
    if await limits.allow(rate_limit(settings.forgot_password_email_limit), "forgot", email):
        return FORGOT_PASSWORD_MESSAGE
    user = await User.get_or_none(email=email, is_active=True)
    if user is not None:
        # The secret is chosen by the mail job, so it never sits in the job queue or its log.
        reset = await PasswordResetToken.create(
            user=user,
            token_hash=digest(new_secret()),
            expires_at=utcnow() + timedelta(seconds=settings.reset_token_ttl),
        )
        await services.jobs.enqueue(
            "send_password_reset", str(reset.id), job_id=f"reset-mail:{reset.id}"
        )
    return FORGOT_PASSWORD_MESSAGE


async def reset_password(services: Services, *, token: str, new_password: str) -> None:
    check_password(new_password, "new_password")
    invalid = Invalid("token: is invalid or has expired", field="token")
    async with in_transaction():
        reset = await PasswordResetToken.get_or_none(token_hash=digest(token))
        if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
            raise invalid
        claimed = await PasswordResetToken.filter(id=reset.id, used_at=None).update(
            used_at=utcnow()
        )
        if not claimed:
            raise invalid
    user = await User.get(id=reset.user_id)  # type: ignore[attr-defined]
    await _set_password(services, user, new_password)


async def reset_link(services: Services, reset_id: str) -> tuple[User, str, str] | None:
    """A fresh secret for a pending reset token: its user, link and secret; None once the token
    is used or expired. Run again, it replaces the secret: the newest mail is the one that works."""
    reset = await PasswordResetToken.get_or_none(id=reset_id).select_related("user")
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    secret = new_secret()
    claimed = await PasswordResetToken.filter(
        id=reset.id, used_at=None, token_hash=reset.token_hash
    ).update(token_hash=digest(secret))
    if not claimed:
        return None
    base = services.settings.public_url.rstrip("/")
    return reset.user, f"{base}/reset-password?token={secret}", secret
