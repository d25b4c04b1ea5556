"""Contract: the official Python SDK's companies calls (brevo-python 5.x) against the sandbox.

As in test_brevo_sdk.py, each call goes through `with_raw_response` and the raw JSON is checked
again with the SDK's own pydantic model, strictly.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from brevo import Brevo
from brevo.core.api_error import ApiError
from sandbox.process import SandboxProcess

DEAL = "61a5ce58c5d4795761045990"


@pytest.fixture
def client(sandbox: SandboxProcess) -> Brevo:
    sandbox.configure("brevo", rate_limits_enabled=False, import_delay_seconds=0)
    return Brevo(api_key=sandbox.brevo["api_key"], base_url=sandbox.brevo["api"], max_retries=0, timeout=30)


def strict(raw: Any) -> Any:
    """The parsed model (or list of models), after checking the raw JSON against it strictly."""
    data, sent = raw.data, raw.response.json() if raw.response.content else None
    if isinstance(data, list):
        for model, item in zip(data, sent, strict=True):
            type(model).model_validate(item)
    elif data is not None:
        type(data).model_validate(sent)
    return data


def test_companies_lifecycle(client: Brevo) -> None:
    for n in (1, 2, 3):
        client.contacts.create_contact(email=f"c{n}@x.io")
    companies = client.companies.with_raw_response
    created = strict(
        companies.create_a_company(
            name="Acme", attributes={"domain": "acme.io"}, linked_contacts_ids=[1, 2], linked_deals_ids=[DEAL]
        )
    )
    company = strict(companies.get_a_company(created.id))
    assert company.id == created.id and company.linked_contacts_ids == [1, 2] and company.linked_deals_ids == [DEAL]
    assert company.attributes["name"] == "Acme" and company.attributes["number_of_contacts"] == 2

    updated = strict(companies.update_a_company(created.id, name="Acme Inc", linked_contacts_ids=[3]))
    assert updated.attributes["name"] == "Acme Inc" and updated.linked_contacts_ids == [3]
    linked = companies.link_and_unlink_company_with_contact_and_deal(
        created.id, link_contact_ids=[1], unlink_deals_ids=[DEAL]
    )
    assert linked.status_code == 204 and linked.data is None
    listed = strict(companies.get_all_companies(filters_attributes_name="Acme Inc", sort="asc", page=1, limit=10))
    assert [(c.id, c.linked_contacts_ids, c.linked_deals_ids) for c in listed.items] == [(created.id, [1, 3], [])]
    assert strict(companies.get_all_companies(linked_contacts_ids=2)).items == []

    assert companies.delete_a_company(created.id).status_code == 204
    with pytest.raises(ApiError) as missing:
        client.companies.get_a_company(created.id)
    assert missing.value.status_code == 404
    assert missing.value.body == {"code": "document_not_found", "message": "Company not found"}


def test_company_attributes(client: Brevo) -> None:
    companies = client.companies.with_raw_response
    created = strict(
        companies.create_a_company_deal_attribute(
            label="Plan Tier", attribute_type="single-select", object_type="companies", options_labels=["Free", "Pro"]
        )
    )
    assert len(created.id) == 24
    attributes = {a.internal_name: a for a in strict(companies.get_company_attributes())}
    assert attributes["plan_tier"].attribute_type_name == "single-select"
    assert [(o.key, o.value) for o in attributes["plan_tier"].attribute_options] == [("free", "Free"), ("pro", "Pro")]
    assert attributes["name"].is_required is True
    company = client.companies.create_a_company(name="Acme", attributes={"plan_tier": "Pro"})
    assert client.companies.get_a_company(company.id).attributes["plan_tier"] == "pro"
    with pytest.raises(ApiError) as duplicate:
        client.companies.create_a_company_deal_attribute(
            label="plan tier", attribute_type="text", object_type="companies"
        )
    assert duplicate.value.status_code == 400 and duplicate.value.body["code"] == "duplicate_parameter"


def test_import_and_poll_the_process(client: Brevo) -> None:
    client.contacts.create_contact(email="a@x.io")
    started = strict(
        client.companies.with_raw_response.import_companies_creation_and_updation(
            file=(
                "companies.csv",
                b"name,domain,associated_contact\nAcme,acme.io,a@x.io\nGlobex,globex.io,\n",
                "text/csv",
            ),
            mapping={"link_entities": True, "update_existing_records": True},
        )
    )
    deadline = time.monotonic() + 10
    while (process := client.process.get_process(started.process_id)).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.name == "COMPANY_IMPORT"
    found = {c.attributes["name"]: c for c in client.companies.get_all_companies(sort="asc").items}
    assert set(found) == {"Acme", "Globex"} and found["Acme"].linked_contacts_ids == [1]
