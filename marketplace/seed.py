"""The demo seed: the exchange's operator, the banks and parties, three buyers.

Idempotent: every record is looked up by its natural key (organisation name, e-mail) first, so
running the seed twice changes nothing. Every name here is synthetic demo data.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import ROLE_FOR_ORG_KIND, Org, User
from marketplace.accounts.security import IdNumberCipher, hash_password
from marketplace.listings.demo import seed_demo_listings
from marketplace.settings import Settings

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - documented demo credential

log = structlog.get_logger("marketplace.seed")


@dataclass(frozen=True)
class DemoOrg:
    key: str
    name: str
    kind: str
    email: str
    user_name: str


DEMO_ORGS = (
    DemoOrg("exchange", "示范知识产权交易所 Demo IP Exchange", "exchange", "", "Exchange operator"),
    DemoOrg("bank_a", "华夏示范银行 Demo Bank A", "bank", "bank-a@bank.demo", "Li Wei (Bank A)"),
    DemoOrg("bank_b", "长江示范银行 Demo Bank B", "bank", "bank-b@bank.demo", "Zhou Min (Bank B)"),
    DemoOrg(
        "guarantor", "示范融资担保公司 Demo Guarantee Co.", "guarantor", "guarantor@party.demo", "Chen Jie"
    ),
    DemoOrg(
        "risk_pool",
        "示范知识产权质押风险补偿资金池 Demo Risk Pool",
        "risk_pool",
        "pool@party.demo",
        "Wang Fang",
    ),
    DemoOrg("valuer", "示范资产评估有限公司 Demo Valuers Ltd.", "valuer", "valuer@party.demo", "Sun Li"),
    DemoOrg(
        "acquirer",
        "示范知识产权运营收储中心 Demo IP Acquirer",
        "acquirer",
        "acquirer@party.demo",
        "Zhao Gang",
    ),
)

DEMO_BUYERS = (
    ("buyer1@buyer.demo", "张三 Zhang San", "110101199001010011"),
    ("buyer2@buyer.demo", "李四 Li Si", "310101198505050022"),
    ("buyer3@buyer.demo", "王五 Wang Wu", "440301199212120033"),
)


async def _org(session: AsyncSession, name: str, kind: str) -> Org:
    org = await session.scalar(select(Org).where(Org.name == name))
    if org is None:
        org = Org(name=name, kind=kind)
        session.add(org)
        await session.flush()
    return org


async def _user(session: AsyncSession, email: str, password: str, **fields: object) -> User:
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, password_hash=await hash_password(password), **fields)
        session.add(user)
        await session.flush()
    return user


async def seed_demo(session: AsyncSession, settings: Settings, cipher: IdNumberCipher) -> dict[str, Org]:
    orgs: dict[str, Org] = {}
    for demo in DEMO_ORGS:
        org = await _org(session, demo.name, demo.kind)
        orgs[demo.key] = org
        email = settings.operator_email if demo.kind == "exchange" else demo.email
        password = settings.operator_password if demo.kind == "exchange" else DEMO_PASSWORD
        await _user(
            session, email, password, name=demo.user_name, role=ROLE_FOR_ORG_KIND[demo.kind], org_id=org.id
        )
    for email, real_name, id_number in DEMO_BUYERS:
        await _user(
            session,
            email,
            DEMO_PASSWORD,
            name=real_name,
            role="buyer",
            real_name=real_name,
            id_number_encrypted=cipher.encrypt(id_number),
        )
    log.info("demo seed in place", orgs=len(orgs), buyers=len(DEMO_BUYERS))
    await seed_demo_listings(session, orgs, settings.operator_email)
    return orgs
