"""Credentials: argon2 password hashes, opaque tokens, sessions with CSRF, the ID-number cipher.

Invariants:
- tokens are random 256-bit values; only their SHA-256 is stored (in the token store: a file store
  in the embedded set-up, Redis in production), with an expiry;
- a cookie session carries a CSRF token; every unsafe request authenticated by the cookie must
  echo it in ``X-CSRF-Token``; bearer requests need none (browsers never send bearer headers);
- password checks run off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import anyio.to_thread
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet
from litestar.stores.base import Store

SESSION_COOKIE = "mp_session"
CSRF_HEADER = "x-csrf-token"

_hasher = PasswordHasher()


def use_fast_hashing() -> None:
    """Cheap argon2 parameters, for test suites only: the algorithm stays the same."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


# A real hash of a throwaway password, verified when the account does not exist so that an
# unknown e-mail costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


class TokenClaims(msgspec.Struct, frozen=True):
    user_id: str
    role: str
    org_id: str | None
    org_kind: str | None
    name: str
    email: str
    kind: str  # "bearer" | "session"
    csrf: str | None = None


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    role: str
    org_id: uuid.UUID | None
    org_kind: str | None
    name: str
    email: str
    via: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Issues and resolves bearer tokens and cookie sessions over one store.

    A resolved token is remembered in this process for ``cache_seconds`` (default 2 s) so that a
    bidding client does not cost a store round trip per request; a revocation is immediate on the
    node that revokes and takes effect on the others within that window.
    """

    def __init__(self, store: Store, token_ttl: int, session_ttl: int, cache_seconds: float = 2.0) -> None:
        self.store = store
        self.token_ttl = token_ttl
        self.session_ttl = session_ttl
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, TokenClaims]] = {}

    async def issue(self, claims: TokenClaims) -> str:
        token = secrets.token_urlsafe(32)
        ttl = self.session_ttl if claims.kind == "session" else self.token_ttl
        await self.store.set(f"tok:{_digest(token)}", msgspec.json.encode(claims), expires_in=ttl)
        return token

    async def resolve(self, token: str) -> TokenClaims | None:
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self.store.get(f"tok:{digest}")
        if raw is None:
            self._cache.pop(digest, None)
            return None
        claims = msgspec.json.decode(raw, type=TokenClaims)
        if self.cache_seconds > 0:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[digest] = (now + self.cache_seconds, claims)
        return claims

    async def revoke(self, token: str) -> None:
        digest = _digest(token)
        self._cache.pop(digest, None)
        await self.store.delete(f"tok:{digest}")


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


class IdNumberCipher:
    """Encrypts buyers' ID numbers at rest with a key derived from the service secret."""

    def __init__(self, secret_key: str) -> None:
        key = hashlib.sha256(b"id-number:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, id_number: str) -> str:
        return self._fernet.encrypt(id_number.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()
