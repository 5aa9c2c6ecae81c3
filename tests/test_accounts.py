"""Accounts, organisations and roles through the public API, on every set-up."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.helpers import BANK_A, BUYERS, DEMO_PASSWORD, OPERATOR, bearer, direct_db

Client = AsyncTestClient[Any]


async def test_operator_gets_a_token_and_me_returns_the_operator(client: Client) -> None:
    response = await client.post("/api/auth/token", json={"email": OPERATOR, "password": DEMO_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == OPERATOR
    assert me.json()["roles"] == ["operator"]
    assert me.json()["org"]["kind"] == "exchange"


async def test_unauthenticated_operator_endpoint_is_401_problem(client: Client) -> None:
    response = await client.post("/api/orgs", json={"name": "Some Bank", "kind": "bank"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_authenticated"
    assert body["status"] == 401
    assert body["title"]
    assert body["detail"]


async def test_wrong_password_is_401_and_repeated_failures_lock_the_account(client: Client) -> None:
    for _ in range(5):
        response = await client.post("/api/auth/token", json={"email": BANK_A, "password": "wrong-password"})
        assert response.status_code == 401
        assert response.json()["code"] == "bad_credentials"
    locked = await client.post("/api/auth/token", json={"email": BANK_A, "password": DEMO_PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert locked.json()["retry_after"] > 0


async def test_unknown_email_and_wrong_password_look_the_same(client: Client) -> None:
    unknown = await client.post("/api/auth/token", json={"email": "nobody@x.demo", "password": "whatever1"})
    wrong = await client.post("/api/auth/token", json={"email": OPERATOR, "password": "whatever1"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


async def test_a_garbage_bearer_token_is_401(client: Client) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


async def test_buyer_registers_and_id_number_is_never_returned(client: Client) -> None:
    response = await client.post(
        "/api/buyers/register",
        json={
            "email": "New.Buyer@Example.com",
            "password": "long-enough-pw",
            "real_name": "赵六",
            "id_number": "110101199901010099",
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["role"] == "buyer"
    assert user["email"] == "new.buyer@example.com"
    assert "110101199901010099" not in response.text
    headers = await bearer(client, "new.buyer@example.com", "long-enough-pw")
    me = await client.get("/api/me", headers=headers)
    assert me.json()["real_name"] == "赵六"
    assert "110101199901010099" not in me.text
    assert "id_number" not in me.json()


async def test_id_number_is_encrypted_at_rest(client: Client, app: Any, settings: Settings) -> None:
    from sqlalchemy import select

    from marketplace.accounts.models import User

    await client.post(
        "/api/buyers/register",
        json={
            "email": "enc@example.com",
            "password": "long-enough-pw",
            "real_name": "Enc",
            "id_number": "ABC123456",
        },
    )
    async with direct_db(settings) as session:
        user = await session.scalar(select(User).where(User.email == "enc@example.com"))
    assert user is not None
    assert user.id_number_encrypted
    assert "ABC123456" not in user.id_number_encrypted
    assert app.state.ctx.cipher.decrypt(user.id_number_encrypted) == "ABC123456"


async def test_duplicate_registration_is_409(client: Client) -> None:
    body = {"email": BUYERS[0], "password": "long-enough-pw", "real_name": "X", "id_number": "1234567"}
    response = await client.post("/api/buyers/register", json=body)
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


async def test_operator_creates_bank_and_its_user_gets_bank_role(client: Client) -> None:
    operator = await bearer(client, OPERATOR)
    org = await client.post("/api/orgs", json={"name": "示范农商银行", "kind": "bank"}, headers=operator)
    assert org.status_code == 201, org.text
    user = await client.post(
        f"/api/orgs/{org.json()['id']}/users",
        json={"email": "teller@rcb.demo", "password": "long-enough-pw", "name": "Teller"},
        headers=operator,
    )
    assert user.status_code == 201, user.text
    assert user.json()["role"] == "bank_user"
    assert user.json()["org"]["id"] == org.json()["id"]


async def test_buyer_cannot_create_orgs(client: Client) -> None:
    buyer = await bearer(client, BUYERS[0])
    response = await client.post("/api/orgs", json={"name": "Mine", "kind": "bank"}, headers=buyer)
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_role"


async def test_user_in_unknown_org_is_404(client: Client) -> None:
    operator = await bearer(client, OPERATOR)
    response = await client.post(
        "/api/orgs/00000000-0000-0000-0000-000000000000/users",
        json={"email": "a@b.demo", "password": "long-enough-pw", "name": "A"},
        headers=operator,
    )
    assert response.status_code == 404


async def test_cookie_session_needs_csrf_on_unsafe_methods(client: Client) -> None:
    login = await client.post("/api/auth/login", json={"email": OPERATOR, "password": DEMO_PASSWORD})
    assert login.status_code == 200
    csrf = login.json()["csrf_token"]
    assert "mp_session" in login.cookies
    me = await client.get("/api/me")
    assert me.status_code == 200
    without = await client.post("/api/orgs", json={"name": "CSRF Bank", "kind": "bank"})
    assert without.status_code == 403
    assert without.json()["code"] == "csrf_failed"
    with_token = await client.post(
        "/api/orgs", json={"name": "CSRF Bank", "kind": "bank"}, headers={"X-CSRF-Token": csrf}
    )
    assert with_token.status_code == 201
    await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert (await client.get("/api/me")).status_code == 401
