"""Password hashing off the event loop, signed access tokens, and hashed one-time secrets."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import bcrypt
import jwt

from neuronest.kit.time import utcnow

ALGORITHM = "HS256"
BCRYPT_MAX_BYTES = 72


async def hash_password(password: str, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(bcrypt.checkpw, password.encode(), password_hash.encode())


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    jti: str
    version: int
    issued_at: int
    expires_at: int


def issue_token(*, user_id: str, version: int, ttl: int, secret: str) -> tuple[str, TokenClaims]:
    now = utcnow()
    claims = TokenClaims(
        user_id=user_id,
        jti=uuid.uuid4().hex,
        version=version,
        issued_at=int(now.timestamp()),
        expires_at=int((now + timedelta(seconds=ttl)).timestamp()),
    )
    payload = {
        "sub": claims.user_id,
        "jti": claims.jti,
        "ver": claims.version,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def read_token(token: str, secret: str) -> TokenClaims | None:
    """The claims of a genuine, unexpired token; None for anything else."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "jti", "exp", "iat"]}
        )
        return TokenClaims(
            user_id=str(payload["sub"]),
            jti=str(payload["jti"]),
            version=int(payload.get("ver", 0)),
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
