"""Account rules: registration, organisations, sign-in with lockout.

Invariants: e-mails are unique case-insensitively; a failed sign-in costs the same whether or not
the account exists; five failures in a row lock the account with a doubling back-off (30 s, 60 s,
… capped at one hour) and a success resets the count.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import ROLE_FOR_ORG_KIND, Org, User
from marketplace.accounts.schemas import OrgOut, UserOut
from marketplace.accounts.security import IdNumberCipher, hash_password, verify_password
from marketplace.db import utcnow
from marketplace.errors import Conflict, DomainError, NotAuthenticated, NotFound

LOCK_AFTER_FAILURES = 5
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 3600


def org_out(org: Org) -> OrgOut:
    return OrgOut(id=org.id, name=org.name, kind=org.kind, created_at=org.created_at)


def user_out(user: User, *, include_real_name: bool = False) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        roles=[user.role],
        org=org_out(user.org) if user.org else None,
        real_name=user.real_name if include_real_name else None,
    )


async def _ensure_email_free(session: AsyncSession, email: str) -> None:
    taken = await session.scalar(select(func.count()).select_from(User).where(User.email == email))
    if taken:
        raise Conflict("email_taken", "an account with this e-mail already exists")


async def register_buyer(
    session: AsyncSession,
    cipher: IdNumberCipher,
    *,
    email: str,
    password: str,
    real_name: str,
    id_number: str,
) -> User:
    email = email.strip().lower()
    await _ensure_email_free(session, email)
    user = User(
        email=email,
        password_hash=await hash_password(password),
        name=real_name.strip(),
        role="buyer",
        real_name=real_name.strip(),
        id_number_encrypted=cipher.encrypt(id_number.strip()),
    )
    session.add(user)
    await session.flush()
    return user


async def create_org(session: AsyncSession, *, name: str, kind: str) -> Org:
    name = name.strip()
    if await session.scalar(select(func.count()).select_from(Org).where(Org.name == name)):
        raise Conflict("org_name_taken", "an organisation with this name already exists")
    org = Org(name=name, kind=kind)
    session.add(org)
    await session.flush()
    return org


async def get_org(session: AsyncSession, org_id: uuid.UUID) -> Org:
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound("not_found", "no such organisation")
    return org


async def create_org_user(
    session: AsyncSession, *, org_id: uuid.UUID, email: str, password: str, name: str
) -> User:
    org = await get_org(session, org_id)
    email = email.strip().lower()
    await _ensure_email_free(session, email)
    user = User(
        email=email,
        password_hash=await hash_password(password),
        name=name.strip(),
        role=ROLE_FOR_ORG_KIND[org.kind],
        org_id=org.id,
    )
    session.add(user)
    await session.flush()
    await session.refresh(user, ["org"])
    return user


async def _find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The user with these credentials; failures are counted and lock the account for a while."""
    now = utcnow()
    user = await _find_by_email(session, email)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        retry_after = int((user.locked_until - now).total_seconds()) + 1
        raise DomainError(
            "account_locked", "too many failed sign-ins; try again later", retry_after=retry_after
        )
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        if user is not None:
            user.failed_logins += 1
            excess = user.failed_logins - LOCK_AFTER_FAILURES
            if excess >= 0:
                seconds = min(LOCK_BASE_SECONDS * 2**excess, LOCK_MAX_SECONDS)
                user.locked_until = now + timedelta(seconds=seconds)
        raise NotAuthenticated("bad_credentials", "wrong e-mail or password")
    if user.failed_logins or user.locked_until:
        user.failed_logins = 0
        user.locked_until = None
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("not_found", "no such user")
    return user


async def list_orgs(session: AsyncSession) -> list[Org]:
    """Every organisation, by kind then name (for naming settlement parties and valuers)."""
    return list(await session.scalars(select(Org).order_by(Org.kind, Org.name)))


async def user_by_email(session: AsyncSession, email: str) -> User:
    """The user with ``email`` (case-insensitive), or ``not_found``."""
    user = await _find_by_email(session, email)
    if user is None:
        raise NotFound("not_found", "no user with this e-mail")
    return user
