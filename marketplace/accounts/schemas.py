"""Request and response bodies for accounts (msgspec structs, validated at the edge)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
_NOT_IN_NAMES = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
"""Control characters and bidirectional overrides: invisible, and able to disguise a name."""
Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        pattern=rf"^[^{_NOT_IN_NAMES}]*[^\s{_NOT_IN_NAMES}][^{_NOT_IN_NAMES}]*$",
        description="at least one visible character; no control characters or bidirectional overrides",
    ),
]
IdNumber = Annotated[str, msgspec.Meta(min_length=4, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]
OrgKind = Literal["bank", "guarantor", "risk_pool", "valuer", "insurer", "acquirer", "exchange"]


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class BuyerRegistration(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    real_name: Name
    id_number: IdNumber


class OrgCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    kind: OrgKind


class OrgUserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    name: Name


class OrgOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    kind: str
    created_at: datetime


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    roles: list[str]
    org: OrgOut | None
    real_name: str | None = None


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    user: UserOut
    expires_in: int


class SessionOut(msgspec.Struct):
    user: UserOut
    csrf_token: str
