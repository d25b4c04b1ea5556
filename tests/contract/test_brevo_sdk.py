"""Contract: Brevo's official Python SDK (brevo-python 5.x) against the sandbox's Brevo emulator.

Each call goes through `with_raw_response` so the test also re-validates the raw JSON with the
SDK's own pydantic model (the SDK itself parses leniently and would hide a wrong shape).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from brevo import Brevo
from brevo.contacts.types.add_contact_to_list_request_body_emails import AddContactToListRequestBodyEmails
from brevo.contacts.types.add_contact_to_list_request_body_ids import AddContactToListRequestBodyIds
from brevo.contacts.types.import_contacts_request_json_body_item import ImportContactsRequestJsonBodyItem
from brevo.contacts.types.remove_contact_from_list_request_body_all import RemoveContactFromListRequestBodyAll
from brevo.contacts.types.remove_contact_from_list_request_body_emails import RemoveContactFromListRequestBodyEmails
from brevo.core.api_error import ApiError
from brevo.event.types.create_batch_events_request_events_item import CreateBatchEventsRequestEventsItem
from brevo.event.types.create_batch_events_request_events_item_identifiers import (
    CreateBatchEventsRequestEventsItemIdentifiers,
)
from brevo.event.types.create_event_request_identifiers import CreateEventRequestIdentifiers
from brevo.types.order import Order
from brevo.types.order_identifiers import OrderIdentifiers
from brevo.types.order_products_item import OrderProductsItem
from brevo_spec import assert_exchange_valid
from sandbox.process import SandboxProcess


@pytest.fixture
def client(sandbox: SandboxProcess) -> Brevo:
    sandbox.configure("brevo", rate_limits_enabled=False, import_delay_seconds=0)
    return Brevo(api_key=sandbox.brevo["api_key"], base_url=sandbox.brevo["api"], max_retries=0, timeout=30)


def strict(raw: Any) -> Any:
    """The parsed model, after checking the raw JSON against the same model strictly."""
    data = raw.data
    if data is not None:
        type(data).model_validate(raw.response.json())
    return data


def test_contacts_lifecycle(client: Brevo) -> None:
    contacts = client.contacts.with_raw_response
    created = strict(
        contacts.create_contact(
            email="jane@x.io", ext_id="crm-1", attributes={"FIRSTNAME": "Jane", "SMS": "+33612345678"}
        )
    )
    assert created.id == 1
    updated = contacts.create_contact(email="jane@x.io", attributes={"LASTNAME": "Doe"}, update_enabled=True)
    assert updated.status_code == 204 and updated.data is None
    info = strict(contacts.get_contact_info("jane@x.io"))
    assert info.id == 1 and info.email == "jane@x.io"
    assert info.attributes.model_dump() == {
        "FIRSTNAME": "Jane",
        "LASTNAME": "Doe",
        "SMS": "33612345678",
        "EXT_ID": "crm-1",
    }
    by_ext = strict(contacts.get_contact_info("crm-1", identifier_type="ext_id"))
    assert by_ext.id == 1
    contacts.update_contact("crm-1", identifier_type="ext_id", attributes={"FIRSTNAME": "J"}, email_blacklisted=True)
    page = strict(contacts.get_contacts(limit=10, modified_since="2000-01-01T00:00:00.000Z", sort="asc"))
    assert page.count == 1 and page.contacts[0].email_blacklisted is True
    assert contacts.delete_contact(1).status_code == 204
    with pytest.raises(ApiError) as missing:
        client.contacts.get_contact_info("jane@x.io")
    assert missing.value.status_code == 404
    assert missing.value.body == {"code": "document_not_found", "message": "Contact does not exist"}


def test_errors_surface_as_api_errors(client: Brevo, sandbox: SandboxProcess) -> None:
    client.contacts.create_contact(email="a@x.io")
    with pytest.raises(ApiError) as duplicate:
        client.contacts.create_contact(email="a@x.io")
    assert duplicate.value.status_code == 400
    assert duplicate.value.body["metadata"] == {"duplicate_identifiers": ["email"]}
    with pytest.raises(ApiError) as phone:
        client.contacts.create_contact(email="b@x.io", attributes={"SMS": "12"})
    assert phone.value.body == {"code": "invalid_parameter", "message": "Invalid phone number"}
    wrong_key = Brevo(api_key="xkeysib-wrong", base_url=sandbox.brevo["api"], max_retries=0)
    with pytest.raises(ApiError) as unauthorized:
        wrong_key.contacts.get_contacts()
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body == {"code": "unauthorized", "message": "Key not found"}


def test_attributes_folders_and_lists(client: Brevo) -> None:
    contacts = client.contacts.with_raw_response
    assert (
        contacts.create_attribute(
            "normal", "PLAN", type="multiple-choice", multi_category_options=["free", "pro"]
        ).status_code
        == 201
    )
    assert contacts.create_attribute("normal", "LTV", type="float").status_code == 201
    attributes = strict(contacts.get_attributes()).attributes
    assert {a.name for a in attributes} == {"FIRSTNAME", "LASTNAME", "SMS", "PLAN", "LTV"}
    folder = strict(contacts.create_folder(name="Synced"))
    folders = strict(contacts.get_folders(limit=10))
    assert folders.count == 2 and folder.id in {f.id for f in folders.folders}
    list_id = strict(contacts.create_list(name="Customers", folder_id=folder.id)).id
    lists = strict(contacts.get_lists(limit=50))
    assert lists.count == 1 and lists.lists[0].folder_id == folder.id
    client.contacts.create_contact(email="a@x.io", attributes={"PLAN": ["pro"], "LTV": 12.5})
    client.contacts.create_contact(email="b@x.io")
    added = strict(
        contacts.add_contact_to_list(
            list_id, request=AddContactToListRequestBodyEmails(emails=["a@x.io", "ghost@x.io"])
        )
    )
    assert added.contacts.success == ["a@x.io"] and added.contacts.failure == ["ghost@x.io"]
    by_ids = strict(contacts.add_contact_to_list(list_id, request=AddContactToListRequestBodyIds(ids=[2])))
    assert by_ids.contacts.success == [2]
    detail = strict(contacts.get_list(list_id))
    assert detail.total_subscribers == 2 and detail.folder_id == folder.id
    members = strict(contacts.get_contacts_from_list(list_id, limit=500))
    assert members.count == 2 and members.contacts[1].attributes.model_dump() == {"PLAN": ["pro"], "LTV": 12.5}
    removed = strict(
        contacts.remove_contact_from_list(list_id, request=RemoveContactFromListRequestBodyEmails(emails=["a@x.io"]))
    )
    assert removed.contacts.success == ["a@x.io"]
    with pytest.raises(ApiError) as nothing:
        client.contacts.add_contact_to_list(list_id, request=AddContactToListRequestBodyEmails(emails=["ghost@x.io"]))
    assert nothing.value.body["message"] == "Contact already in list and/or does not exist"
    cleared = strict(contacts.remove_contact_from_list(list_id, request=RemoveContactFromListRequestBodyAll(all=True)))
    assert cleared.contacts.total == 1 and cleared.contacts.process_id


def test_import_and_poll_the_process(client: Brevo) -> None:
    list_id = client.contacts.create_list(name="Imported", folder_id=1).id
    rows = [
        ImportContactsRequestJsonBodyItem(email="a@x.io", attributes={"FIRSTNAME": "A"}),
        ImportContactsRequestJsonBodyItem(email="broken", attributes={"FIRSTNAME": "B"}),
    ]
    started = strict(
        client.contacts.with_raw_response.import_contacts(
            json_body=rows, list_ids=[list_id], update_existing_contacts=True
        )
    )
    deadline = time.monotonic() + 10
    while True:
        # Not strict(): the SDK types the import counters as strings, the spec as integers.
        process = client.process.get_process(started.process_id)
        if process.status == "completed":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.name == "IMPORTUSER" and process.info.import_.invalid_emails == 1
    csv_started = client.contacts.import_contacts(file_body="EMAIL;FIRSTNAME\nc@x.io;C", list_ids=[list_id])
    assert csv_started.process_id == started.process_id + 1
    assert client.contacts.get_contact_info("a@x.io").list_ids == [list_id]


def test_events(client: Brevo, sandbox: SandboxProcess) -> None:
    raw = client.event.with_raw_response.create_event(
        event_name="video_played",
        identifiers=CreateEventRequestIdentifiers(email_id="a@x.io"),
        event_properties={"duration": 142, "autoplayed": False},
        contact_properties={"FIRSTNAME": "A"},
    )
    assert raw.status_code == 204
    assert_exchange_valid(_as_requests(raw.response))
    items = [
        CreateBatchEventsRequestEventsItem(
            event_name="page_view", identifiers=CreateBatchEventsRequestEventsItemIdentifiers(email_id=f"u{i}@x.io")
        )
        for i in range(3)
    ]
    accepted = strict(client.event.with_raw_response.create_batch_events(events=items))
    assert accepted.count == 3 and accepted.message.startswith("Batch accepted")
    bad = [
        *items,
        CreateBatchEventsRequestEventsItem(
            event_name="bad name", identifiers=CreateBatchEventsRequestEventsItemIdentifiers(email_id="a@x.io")
        ),
    ]
    partial = client.event.with_raw_response.create_batch_events(events=bad)
    assert partial.status_code == 207, "the SDK hands a 207 back as a success; clients must read the status"
    assert partial.response.json()["errors"] == [
        {"eventIndex": [3], "message": "event_name must be 1 to 255 letters, digits, '-' or '_'"}
    ]
    assert sandbox.admin("GET", "brevo/events")["count"] == 7


def test_orders(client: Brevo, sandbox: SandboxProcess) -> None:
    client.contacts.create_contact(email="a@x.io")
    product = OrderProductsItem(product_id="P1", price=10.0, quantity=2)
    raw = client.ecommerce.with_raw_response.create_order(
        id="o-1",
        created_at="2024-07-29T20:59:23Z",
        updated_at="2024-07-29T20:59:23Z",
        status="completed",
        amount=20.0,
        products=[product],
        identifiers=OrderIdentifiers(email_id="a@x.io"),
    )
    assert raw.status_code == 204
    orders = [
        Order(
            id=f"o-{i}",
            created_at="2024-07-29T20:59:23Z",
            updated_at="2024-07-30T20:59:23Z",
            status="shipped",
            amount=20.0,
            products=[OrderProductsItem(product_id="P1", price=2.5, quantity_float=1.5)],
            identifiers=OrderIdentifiers(email_id="a@x.io"),
        )
        for i in range(1, 3)
    ]
    batch = strict(client.ecommerce.with_raw_response.create_batch_order(orders=orders, historical=True))
    assert batch.batch_id == 1 and batch.count == 2
    stored = sandbox.admin("GET", "brevo/orders", contact="a@x.io")
    assert stored["count"] == 2 and {o["order"]["status"] for o in stored["orders"]} == {"shipped"}


def test_rate_limit_headers_reach_the_sdk(client: Brevo, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", rate_limits_enabled=True)
    raw = client.process.with_raw_response.get_processes()
    assert raw.headers["x-sib-ratelimit-limit"] == "100" and raw.headers["x-sib-ratelimit-remaining"] == "99"
    for _ in range(99):
        client.process.get_processes()
    with pytest.raises(ApiError) as limited:
        client.process.get_processes()
    assert limited.value.status_code == 429
    assert limited.value.body == {"code": "too_many_requests", "message": "Too many requests"}
    assert int(limited.value.headers["x-sib-ratelimit-reset"]) >= 1


def _as_requests(response: Any) -> Any:
    """Adapt an httpx response to what assert_exchange_valid reads (a requests-like object)."""

    class Sent:
        method = response.request.method
        url = str(response.request.url)
        body = response.request.content

    class Received:
        request = Sent
        status_code = response.status_code
        content = response.content
        headers = response.headers

        @staticmethod
        def json() -> Any:
            return response.json()

    return Received
