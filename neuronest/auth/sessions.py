"""Verified sessions, kept in the process so that an authenticated request costs no database
round trip while nothing changed.

What is kept, per token (jti): the user row and token version its last database check read.
Whatever changes them (logout, password change or reset, deactivation, a profile change) forgets
the user's sessions in the acting process at once and publishes the user's id on the
installation's sessions channel, which every process follows. A process reads an entry only
after `EventBus.sync()` confirmed that every message published before the request has been
dispatched here, so the request that follows a revocation on another process is refused. If the
bus may have lost messages (a reconnection), every entry is dropped. A short TTL bounds what no
event announces (a row edited by hand, or by the CLI of an embedded deployment, whose bus is in
the server's memory).

The cache also knows each kept session's token by its text: the same text under the same secret
verifies the same way until its expiry, so a kept token's signature is not checked again."""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from dataclasses import dataclass

from neuronest.auth.models import User
from neuronest.events.bus import Message
from neuronest.kit.security import TokenClaims


def sessions_channel(instance: str) -> str:
    """One installation's channel (Redis pub/sub channels are shared by all its databases)."""
    return f"neuronest:{instance}:sessions"


@dataclass(frozen=True)
class _Entry:
    user_id: str
    user: User
    version: int
    deadline: float
    token: str | None
    claims: TokenClaims


class SessionCache:
    """A bounded LRU of verified sessions by jti, with an index by user for invalidation."""

    def __init__(self, size: int, ttl: float, channel: str) -> None:
        self.size = size
        self.channel = channel
        self.ttl = ttl
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self._by_token: dict[str, str] = {}  # token text -> jti
        # Bumped by every invalidation: a database read that began before one is not kept.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def claims(self, token: str) -> TokenClaims | None:
        """The claims of a kept session's token, read when it was verified, while it has not
        expired (as the token's own check would say); None when the token must be read."""
        jti = self._by_token.get(token)
        if jti is None:
            return None
        claims = self._entries[jti].claims
        return claims if time.time() < claims.expires_at else None

    def holds(self, claims: TokenClaims) -> bool:
        return claims.jti in self._entries

    def get(self, claims: TokenClaims) -> User | None:
        """The user of a session verified before, as a copy the request may change."""
        entry = self._entries.get(claims.jti)
        if entry is None:
            return None
        if (
            entry.deadline <= time.monotonic()
            or entry.version != claims.version
            or entry.user_id != claims.user_id
        ):
            self._drop(claims.jti)
            return None
        self._entries.move_to_end(claims.jti)
        return _detached(entry.user)

    def put(
        self, claims: TokenClaims, user: User, generation: int, token: str | None = None
    ) -> None:
        """Keeps a session the database just confirmed, unless something was invalidated since
        the read began (its answer may predate that change); `token`: its text, whose claims
        `claims` are."""
        if self.size <= 0 or generation != self.generation:
            return
        self._drop(claims.jti)
        deadline = time.monotonic() + self.ttl
        self._entries[claims.jti] = _Entry(
            claims.user_id, _detached(user), claims.version, deadline, token, claims
        )
        if token is not None:
            self._by_token[token] = claims.jti
        self._by_user.setdefault(claims.user_id, set()).add(claims.jti)
        while len(self._entries) > self.size:
            self._drop(next(iter(self._entries)))

    def forget(self, user_id: object) -> None:
        """After a change to the user: its sessions go, and reads under way are not kept."""
        self.generation += 1
        self.discard(user_id)

    def discard(self, user_id: object) -> None:
        """Drops the user's sessions (a database check just refused one of them)."""
        for jti in self._by_user.pop(str(user_id), set()):
            entry = self._entries.pop(jti, None)
            if entry is not None and entry.token is not None:
                self._by_token.pop(entry.token, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()
        self._by_token.clear()

    def on_event(self, _channel: str, message: Message) -> None:
        """A message of the sessions channel: `{"user_id": ...}`; anything else forgets everyone."""
        user_id = message.get("user_id")
        if isinstance(user_id, str):
            self.forget(user_id)
        else:
            self.clear()

    def _drop(self, jti: str) -> None:
        entry = self._entries.pop(jti, None)
        if entry is None:
            return
        if entry.token is not None:
            self._by_token.pop(entry.token, None)
        jtis = self._by_user.get(entry.user_id)
        if jtis is not None:
            jtis.discard(jti)
            if not jtis:
                del self._by_user[entry.user_id]


def _detached(user: User) -> User:
    """A copy of the row of its own: requests change their user (update_me, refresh_from_db)."""
    clone = copy.copy(user)
    object.__setattr__(clone, "_await_when_save", {})
    clone.__dict__.pop("revoked", None)
    return clone
