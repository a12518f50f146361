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
from neuronest.errors import (
    AppError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
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
from neuronest.services import services

log = logging.getLogger(__name__)

MIN_PASSWORD_BYTES = 8
MAX_NAME_LENGTH = 200
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
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise Invalid(f"{field}: {error}", field=field) from None


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


async def _issue(user: User) -> IssuedToken:
    settings = services().settings
    token, _ = issue_token(
        user_id=str(user.id),
        version=user.token_version,
        ttl=settings.access_token_ttl,
        secret=services().secret_key,
    )
    return IssuedToken(access_token=token, expires_in=settings.access_token_ttl, user=user)


async def register(*, email: str, password: str, name: str = "") -> IssuedToken:
    email = normalize_email(email)
    check_password(password)
    name = check_name(name)
    if await User.filter(email=email).exists():
        raise Conflict("A user with this email already exists")
    password_hash = await hash_password(password, services().settings.bcrypt_rounds)
    try:
        user = await User.create(email=email, name=name, password_hash=password_hash)
    except IntegrityError:
        raise Conflict("A user with this email already exists") from None
    return await _issue(user)


async def _dummy_hash(rounds: int) -> str:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = await hash_password(new_secret(), rounds)
    return _dummy_hashes[rounds]


async def login(*, email: str, password: str, client: str) -> IssuedToken:
    settings = services().settings
    counters = services().counters
    key = f"login-failures:{email.strip().lower()}:{client}"
    failures, retry_after = await counters.count(key)
    if failures >= settings.login_max_failures:
        raise RateLimited(
            "Too many failed login attempts; try again later", retry_after=max(retry_after, 1)
        )
    user = await User.get_or_none(email=email.strip().lower())
    # An unknown email still costs one bcrypt check, so timing does not reveal accounts.
    password_hash = user.password_hash if user else await _dummy_hash(settings.bcrypt_rounds)
    password_ok = len(password.encode()) <= BCRYPT_MAX_BYTES and await verify_password(
        password, password_hash
    )
    if user is None or not password_ok:
        await counters.increment(key, settings.login_failure_window)
        raise Unauthenticated("Incorrect email or password")
    if not user.is_active:
        raise Forbidden("This account is inactive")
    await counters.reset(key)
    return await _issue(user)


async def authenticate(token: str) -> Session:
    """The session behind a bearer token; revoked, expired or forged tokens are refused."""
    claims = read_token(token, services().secret_key)
    if claims is None:
        raise Unauthenticated("Invalid or expired token")
    # One round trip: the user, and whether this token was logged out.
    user = (
        await User.filter(id=claims.user_id)
        .annotate(revoked=Subquery(RevokedToken.filter(jti=claims.jti).values("jti")))
        .first()
    )
    if user is None:
        raise Unauthenticated("Invalid or expired token")
    # Deactivation also revokes every token: an inactive account says so rather than "revoked".
    if not user.is_active:
        raise Forbidden("This account is inactive")
    if user.token_version != claims.version:
        raise Unauthenticated("Invalid or expired token")
    if getattr(user, "revoked", None) is not None:
        raise Unauthenticated("Token has been revoked")
    return Session(user=user, claims=claims)


async def update_me(*, actor: User, name: str | None = None, email: str | None = None) -> User:
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
        await services().bus.publish(profile_channel(actor.id), {"type": "profile"})
    return actor


async def _set_password(user: User, password: str) -> None:
    user.password_hash = await hash_password(password, services().settings.bcrypt_rounds)
    await User.filter(id=user.id).update(
        password_hash=user.password_hash, token_version=F("token_version") + 1
    )
    await user.refresh_from_db(fields=["token_version"])
    await services().bus.publish(
        auth_channel(user.id), {"type": "revoked", "below_version": user.token_version}
    )


async def change_password(*, actor: User, current_password: str, new_password: str) -> None:
    check_password(new_password, "new_password")
    if len(current_password.encode()) > BCRYPT_MAX_BYTES or not await verify_password(
        current_password, actor.password_hash
    ):
        raise Invalid("current_password: is incorrect", field="current_password")
    await _set_password(actor, new_password)


async def logout(*, session: Session) -> None:
    expires_at = datetime.fromtimestamp(session.claims.expires_at, UTC)
    await RevokedToken.get_or_create(
        jti=session.claims.jti, defaults={"user_id": session.user.id, "expires_at": expires_at}
    )
    await RevokedToken.filter(expires_at__lt=utcnow()).delete()
    await services().bus.publish(
        auth_channel(session.user.id), {"type": "revoked", "jti": session.claims.jti}
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


async def set_active(*, email: str, active: bool) -> User:
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
    if not active:
        await services().bus.publish(
            auth_channel(user.id), {"type": "deactivated", "below_version": user.token_version}
        )
    return user


async def forgot_password(*, email: str) -> str:
    user = await User.get_or_none(email=email.strip().lower(), is_active=True)
    if user is not None:
        secret = new_secret()
        ttl = services().settings.reset_token_ttl
        reset = await PasswordResetToken.create(
            user=user, token_hash=digest(secret), expires_at=utcnow() + timedelta(seconds=ttl)
        )
        await services().jobs.enqueue(
            "send_password_reset", str(reset.id), secret, job_id=f"reset-mail:{reset.id}"
        )
    return FORGOT_PASSWORD_MESSAGE


async def reset_password(*, token: str, new_password: str) -> None:
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
    await _set_password(user, new_password)


async def reset_link(reset_id: str, secret: str) -> tuple[User, str] | None:
    """The user and link for a pending reset token; None once it is used or expired."""
    reset = await PasswordResetToken.get_or_none(id=reset_id).select_related("user")
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    if reset.token_hash != digest(secret):
        return None
    base = services().settings.public_url.rstrip("/")
    return reset.user, f"{base}/reset-password?token={secret}"
