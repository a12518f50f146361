"""The `/users/me` peer: FastAPI + SQLAlchemy (async, asyncpg) written the usual way.

A bearer JWT decoded with pyjwt (HS256, the same secret as the NeuroNest server, so the same
token works on both), one SELECT of the user by id from the same `users` table, a pydantic
response. The token version is compared with the row's (no extra query); there is no revocation
lookup. Served by uvicorn with the settings `neuronest serve` uses.

`python -m bench.peers.users_app HOST PORT` with BENCH_PEER_DATABASE_URL and BENCH_PEER_SECRET.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import jwt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

POOL_SIZE = 20  # NeuroNest's default database pool


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]
    is_active: Mapped[bool]
    token_version: Mapped[int]
    created_at: Mapped[datetime]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    email: str
    name: str
    is_active: bool
    created_at: datetime


def sqlalchemy_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


engine = create_async_engine(
    sqlalchemy_url(os.environ.get("BENCH_PEER_DATABASE_URL", "postgres://localhost/neuronest")),
    pool_size=POOL_SIZE,
    max_overflow=0,
)
sessions = async_sessionmaker(engine, expire_on_commit=False)
SECRET = os.environ.get("BENCH_PEER_SECRET", "")
bearer = HTTPBearer()
app = FastAPI()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


async def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> User:
    unauthorized = HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = jwt.decode(credentials.credentials, SECRET, algorithms=["HS256"])
        user_id = uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        raise unauthorized from None
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.token_version != claims.get("ver", 0):
        raise unauthorized
    return user


@app.get("/users/me", response_model=UserOut)
async def me(user: Annotated[User, Depends(current_user)]) -> User:
    return user


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host=sys.argv[1], port=int(sys.argv[2]), log_level="info", access_log=False)
