"""Brevo emulator: eCommerce orders (status, batch, upsert by id, historical, not-activated mode)."""

from __future__ import annotations

import pytest
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False)
    return SpecCheckedSession(sandbox.brevo)


def order(order_id: str = "o-1", status: str = "completed", **extra: object) -> dict:
    return {
        "id": order_id,
        "createdAt": "2024-07-29T20:59:23.383Z",
        "updatedAt": "2024-07-30T10:59:23Z",
        "status": status,
        "amount": 308.42,
        "products": [{"productId": "P1", "price": 99.99, "quantity": 3}],
        "identifiers": {"email_id": "a@x.io"},
        **extra,
    }


def stored(sandbox: SandboxProcess, **params: object) -> dict:
    return sandbox.admin("GET", "brevo/orders", **params)


def test_order_status_is_stored_and_upserted(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    contact_id = api.post("/contacts", json={"email": "a@x.io"}).json()["id"]
    extra = {
        "storeId": "ST-1",
        "coupons": ["EASTER"],
        "metaInfo": {"tier": "gold", "n": 1, "vip": True},
        "billing": {"city": "Basel", "countryCode": "CH"},
    }
    response = api.post("/orders/status", json=order(**extra))
    assert response.status_code == 204 and response.content == b""
    api.post("/orders/status", json=order(status="refunded"))
    orders = stored(sandbox, contact="a@x.io")
    assert orders["count"] == 1, "a re-sent id updates, never duplicates"
    saved = orders["orders"][0]
    assert saved["order"]["status"] == "refunded" and saved["revisions"] == 2
    assert saved["contact_id"] == contact_id and saved["historical"] is False


def test_order_for_unknown_contact_is_kept_without_contact(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    assert api.post("/orders/status", json=order(identifiers={"ext_id": "nobody"})).status_code == 204
    assert stored(sandbox)["orders"][0]["contact_id"] is None


def test_quantity_float(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    body = order(products=[{"productId": "P1", "price": 2.5, "quantityFloat": 1.5}])
    assert api.post("/orders/status", json=body).status_code == 204
    both = order(products=[{"productId": "P1", "price": 2.5, "quantityFloat": 1.5, "quantity": 1}])
    response = api.post("/orders/status", json=both)
    assert response.status_code == 400 and "exactly one of quantity or quantityFloat" in response.json()["message"]
    neither = order(products=[{"productId": "P1", "price": 2.5}])
    assert api.post("/orders/status", json=neither).status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "308"},
        {"id": 14},
        {"identifiers": {}},
        {"createdAt": "yesterday"},
        {"products": [{"productId": "P1", "quantity": 1}]},
    ],
)
def test_invalid_orders(api: SpecCheckedSession, sandbox: SandboxProcess, change: dict) -> None:
    response = api.post("/orders/status", json={**order(), **change})
    assert response.status_code == 400, response.text
    assert stored(sandbox)["count"] == 0


def test_missing_required_field(api: SpecCheckedSession) -> None:
    body = order()
    del body["status"]
    response = api.post("/orders/status", json=body)
    assert response.status_code == 400 and response.json()["code"] == "missing_parameter"


def test_batch(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    orders = [order(f"o-{i}") for i in range(3)]
    response = api.post("/orders/status/batch", json={"orders": orders})
    assert response.status_code == 202
    assert response.json() == {"batchId": 1, "batch_id": 1, "count": 3}
    again = api.post("/orders/status/batch", json={"orders": [order("o-1", "shipped")], "historical": False})
    assert again.json()["batchId"] == 2
    saved = {o["order"]["id"]: o for o in stored(sandbox)["orders"]}
    assert len(saved) == 3
    assert saved["o-0"]["historical"] is True and saved["o-0"]["batch_id"] == 1
    assert saved["o-1"]["historical"] is False and saved["o-1"]["order"]["status"] == "shipped"


def test_batch_is_all_or_nothing_and_limited(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    bad = api.post("/orders/status/batch", json={"orders": [order("ok"), order("bad", identifiers={})]})
    assert bad.status_code == 400 and "orders[1]" in bad.json()["message"]
    assert stored(sandbox)["count"] == 0
    too_many = api.post("/orders/status/batch", json={"orders": [order(f"o{i}") for i in range(1001)]})
    assert too_many.status_code == 400 and too_many.json()["code"] == "out_of_range"
    huge = [order(f"o{i}", metaInfo={"note": "x" * 6000}) for i in range(900)]
    too_big = api.post("/orders/status/batch", json={"orders": huge})
    assert too_big.status_code == 400 and too_big.json()["message"] == "A batch is limited to 5 MB"
    assert api.post("/orders/status/batch", json={"orders": []}).status_code == 400


def test_ecommerce_not_activated_mode(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", ecommerce_active=False)
    for path, body in [("/orders/status", order()), ("/orders/status/batch", {"orders": [order()]})]:
        response = api.post(path, json=body)
        assert response.status_code == 400
        assert response.json() == {"code": "permission_denied", "message": "eCommerce is not activated"}
    currency = api.get("/ecommerce/config/displayCurrency")
    assert currency.status_code == 403
    assert api.post("/ecommerce/activate").status_code == 200
    assert sandbox.admin("GET", "brevo/config")["ecommerce_active"] is True
    assert api.get("/ecommerce/config/displayCurrency").json() == {"code": "EUR"}
    assert api.post("/ecommerce/config/displayCurrency", json={"code": "CHF"}).json() == {"code": "CHF"}
    assert api.get("/ecommerce/config/displayCurrency").json() == {"code": "CHF"}
    assert api.post("/ecommerce/config/displayCurrency", json={"code": "francs"}).status_code == 422
    assert api.post("/orders/status", json=order()).status_code == 204
