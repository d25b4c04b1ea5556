"""Brevo emulator: CRM companies, their links to contacts and deals, CRM attributes, the CSV import."""

from __future__ import annotations

import re
import time

import orjson
import pytest
import requests
from brevo_spec import SpecCheckedSession, assert_exchange_valid
from sandbox.process import SandboxProcess

DEAL = "61a5ce58c5d4795761045990"
OTHER_DEAL = "61a5ce58c5d4795761045991"
UNKNOWN_COMPANY = "0123456789abcdef01234567"


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False, import_delay_seconds=0)
    session = SpecCheckedSession(sandbox.brevo)
    for n in range(1, 5):
        assert session.post("/contacts", json={"email": f"c{n}@x.io"}).json() == {"id": n}
    return session


def create(api: SpecCheckedSession, name: str, **body: object) -> str:
    response = api.post("/companies", json={"name": name, **body})
    assert response.status_code == 200, response.text
    assert_exchange_valid(response)
    return response.json()["id"]


def company(api: SpecCheckedSession, company_id: str) -> dict:
    response = api.get(f"/companies/{company_id}")
    assert response.status_code == 200, response.text
    return response.json()


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["attributes"]["name"] for item in response.json()["items"]]


def error(response: requests.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# ---------------------------------------------------------------- create, read, delete


def test_create_then_get_shows_brevos_company_shape(api: SpecCheckedSession) -> None:
    company_id = create(
        api,
        "Acme",
        attributes={"domain": "acme.io", "industry": "Rockets", "revenue": 1200.5},
        countryCode=33,
        linkedContactsIds=[2, 1],
        linkedDealsIds=[DEAL],
    )
    assert re.fullmatch(r"[0-9a-f]{24}", company_id)
    found = company(api, company_id)
    attributes = found.pop("attributes")
    assert found == {"id": company_id, "linkedContactsIds": [1, 2], "linkedDealsIds": [DEAL]}
    assert attributes.pop("created_at") == attributes.pop("last_updated_at")
    assert attributes == {
        "name": "Acme",
        "domain": "acme.io",
        "industry": "Rockets",
        "revenue": 1200.5,
        "number_of_contacts": 2,
    }
    assert create(api, "Acme") != company_id, "names need not be unique"


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({}, "missing_parameter", "name"),
        ({"name": 7}, "invalid_parameter", "name"),
        ({"name": "  "}, "invalid_parameter", "empty string"),
        ({"name": "A", "attributes": {"colour": "red"}}, "invalid_parameter", "attributes.colour: Attribute not found"),
        ({"name": "A", "attributes": {"revenue": "lots"}}, "invalid_parameter", "attributes.revenue"),
        ({"name": "A", "attributes": {"revenue": True}}, "invalid_parameter", "attributes.revenue"),
        (
            {"name": "A", "attributes": {"created_at": "2020-01-01"}, "linkedContactsIds": [1, 9, 8]},
            "invalid_parameter",
            "8, 9",
        ),
        ({"name": "A", "linkedContactsIds": ["one"]}, "invalid_parameter", "linkedContactsIds"),
    ],
)
def test_create_refuses_bad_bodies_and_changes_nothing(
    api: SpecCheckedSession, sandbox: SandboxProcess, body: dict, code: str, needle: str
) -> None:
    found = error(api.post("/companies", json=body))
    assert found["code"] == code and needle in found["message"]
    assert sandbox.admin("GET", "brevo/stats")["companies"] == 0


def test_read_only_attributes_are_ignored(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", attributes={"number_of_contacts": 40, "created_at": "2001-01-01"})
    attributes = company(api, company_id)["attributes"]
    assert attributes["number_of_contacts"] == 0 and not attributes["created_at"].startswith("2001")


def test_unknown_company_is_404_on_every_operation(api: SpecCheckedSession) -> None:
    body = {"code": "document_not_found", "message": "Company not found"}
    assert error(api.get(f"/companies/{UNKNOWN_COMPANY}"), 404) == body
    assert error(api.patch(f"/companies/{UNKNOWN_COMPANY}", json={"name": "B"}), 404) == body
    assert error(api.delete(f"/companies/{UNKNOWN_COMPANY}"), 404) == body
    assert error(api.patch(f"/companies/link-unlink/{UNKNOWN_COMPANY}", json={"linkContactIds": [1]}), 404) == body
    assert error(api.get("/companies/not-an-id"), 404) == body


def test_delete_removes_the_company_and_its_links(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    kept = create(api, "Kept", linkedContactsIds=[1])
    gone = create(api, "Gone", linkedContactsIds=[1, 2], linkedDealsIds=[DEAL])
    response = api.delete(f"/companies/{gone}")
    assert response.status_code == 204 and response.content == b""
    assert api.get(f"/companies/{gone}").status_code == 404
    assert sandbox.admin("GET", "brevo/stats")["company_contacts"] == 1
    assert company(api, kept)["linkedContactsIds"] == [1]


def test_deleting_a_contact_unlinks_it(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", linkedContactsIds=[1, 2])
    before = company(api, company_id)["attributes"]["last_updated_at"]
    time.sleep(0.01)
    assert api.delete("/contacts/1").status_code == 204
    after = company(api, company_id)
    assert after["linkedContactsIds"] == [2] and after["attributes"]["number_of_contacts"] == 1
    assert after["attributes"]["last_updated_at"] > before


def test_merged_contacts_keep_their_company_links(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"ext_id": "crm-5"})  # contact 5
    company_id = create(api, "Acme", linkedContactsIds=[5])
    merged = api.put("/contacts/1", json={"ext_id": "crm-5", "forceMerge": True})
    assert merged.status_code == 204, merged.text
    assert company(api, company_id)["linkedContactsIds"] == [1]


# ---------------------------------------------------------------- update and links


def test_patch_merges_attributes_and_replaces_link_lists(api: SpecCheckedSession) -> None:
    company_id = create(
        api, "Acme", attributes={"domain": "acme.io", "revenue": 10}, linkedContactsIds=[1, 2], linkedDealsIds=[DEAL]
    )
    response = api.patch(
        f"/companies/{company_id}",
        json={"name": "Acme Inc", "attributes": {"revenue": None, "industry": "Rockets"}, "linkedContactsIds": [3]},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == company(api, company_id)
    assert updated["linkedContactsIds"] == [3], "a PATCHed list replaces the old one"
    assert updated["linkedDealsIds"] == [DEAL], "an omitted list is kept"
    attributes = updated["attributes"]
    assert attributes["name"] == "Acme Inc" and attributes["domain"] == "acme.io"
    assert attributes["industry"] == "Rockets" and "revenue" not in attributes, "null unsets"
    assert attributes["number_of_contacts"] == 1
    emptied = api.patch(f"/companies/{company_id}", json={"linkedContactsIds": [], "linkedDealsIds": []}).json()
    assert emptied["linkedContactsIds"] == [] and emptied["linkedDealsIds"] == []


def test_patch_errors_change_nothing(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", linkedContactsIds=[1])
    before = company(api, company_id)
    empty = error(api.patch(f"/companies/{company_id}", json={"name": ""}))
    assert empty == {"code": "invalid_parameter", "message": "The company name cannot be set to an empty string"}
    assert error(api.patch(f"/companies/{company_id}", json={"attributes": {"name": None}})) == empty
    unknown = error(api.patch(f"/companies/{company_id}", json={"name": "B", "linkedContactsIds": [1, 99]}))
    assert unknown["message"] == "Contact ids do not exist: 99"
    assert (
        error(api.patch(f"/companies/{company_id}", json={"attributes": {"domain": 5}}))["code"] == "invalid_parameter"
    )
    assert company(api, company_id) == before


def test_last_updated_at_moves_only_on_a_change(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", attributes={"domain": "acme.io"}, linkedContactsIds=[1])
    created = company(api, company_id)["attributes"]["last_updated_at"]
    time.sleep(0.01)
    same = api.patch(f"/companies/{company_id}", json={"name": "Acme", "linkedContactsIds": [1]}).json()
    assert same["attributes"]["last_updated_at"] == created
    api.patch(f"/companies/link-unlink/{company_id}", json={"linkContactIds": [1], "unlinkContactIds": [4]})
    assert company(api, company_id)["attributes"]["last_updated_at"] == created
    changed = api.patch(f"/companies/{company_id}", json={"attributes": {"domain": "acme.com"}}).json()
    assert changed["attributes"]["last_updated_at"] > created


def test_owner_change_sets_owner_assign_date(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme")
    assert "owner_assign_date" not in company(api, company_id)["attributes"]
    owned = api.patch(f"/companies/{company_id}", json={"attributes": {"owner": "owner@sandbox.example"}}).json()
    assert owned["attributes"]["owner"] == "owner@sandbox.example"
    assert owned["attributes"]["owner_assign_date"].endswith("Z")
    assert (
        error(api.patch(f"/companies/{company_id}", json={"attributes": {"owner": ""}}))["code"] == "invalid_parameter"
    )


def test_link_unlink_is_incremental(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", linkedContactsIds=[1, 2], linkedDealsIds=[DEAL])
    response = api.patch(
        f"/companies/link-unlink/{company_id}",
        json={"linkContactIds": [3, 2], "unlinkContactIds": [1, 4], "linkDealsIds": [OTHER_DEAL]},
    )
    assert response.status_code == 204 and response.content == b""
    found = company(api, company_id)
    assert found["linkedContactsIds"] == [2, 3], "linked ones stay, 4 was never linked"
    assert found["linkedDealsIds"] == [DEAL, OTHER_DEAL]
    assert found["attributes"]["number_of_contacts"] == 2
    api.patch(f"/companies/link-unlink/{company_id}", json={"unlinkDealsIds": [DEAL]})
    assert company(api, company_id)["linkedDealsIds"] == [OTHER_DEAL]
    assert api.patch(f"/companies/link-unlink/{company_id}", json={}).status_code == 204


def test_link_unlink_errors_change_nothing(api: SpecCheckedSession) -> None:
    company_id = create(api, "Acme", linkedContactsIds=[1])
    unknown = error(api.patch(f"/companies/link-unlink/{company_id}", json={"linkContactIds": [2, 77]}))
    assert unknown == {"code": "invalid_parameter", "message": "Contact ids do not exist: 77"}
    both = error(
        api.patch(f"/companies/link-unlink/{company_id}", json={"linkContactIds": [2], "unlinkContactIds": [2]})
    )
    assert "both name 2" in both["message"]
    assert (
        error(api.patch(f"/companies/link-unlink/{company_id}", json={"linkContactIds": "2"}))["code"]
        == "invalid_parameter"
    )
    assert company(api, company_id)["linkedContactsIds"] == [1]


def test_a_contact_can_belong_to_several_companies(api: SpecCheckedSession) -> None:
    first, second = create(api, "First", linkedContactsIds=[1]), create(api, "Second", linkedContactsIds=[1, 2])
    assert company(api, first)["linkedContactsIds"] == [1]
    assert company(api, second)["linkedContactsIds"] == [1, 2]


# ---------------------------------------------------------------- listing


def test_listing_sorts_pages_and_filters(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.admin("PUT", "clock", json={"now": "2030-01-01T00:00:00Z"})
    create(api, "Beta", attributes={"revenue": 30}, linkedContactsIds=[1])
    sandbox.admin("PUT", "clock", json={"now": "2030-01-02T00:00:00Z"})
    create(
        api, "Alpha", attributes={"revenue": 5, "domain": "alpha.io"}, linkedContactsIds=[1, 2], linkedDealsIds=[DEAL]
    )
    sandbox.admin("PUT", "clock", json={"now": "2030-01-03T00:00:00Z"})
    create(api, "Gamma")
    assert names(api.get("/companies")) == ["Gamma", "Alpha", "Beta"], "newest first by default"
    assert names(api.get("/companies", params={"sort": "asc"})) == ["Beta", "Alpha", "Gamma"]
    assert names(api.get("/companies", params={"sortBy": "name", "sort": "asc"})) == ["Alpha", "Beta", "Gamma"]
    assert names(api.get("/companies", params={"sortBy": "revenue", "sort": "desc"})) == ["Beta", "Alpha", "Gamma"]
    assert names(api.get("/companies", params={"sortBy": "revenue", "sort": "asc"})) == ["Alpha", "Beta", "Gamma"]
    assert names(api.get("/companies", params={"limit": 2, "page": 2})) == ["Beta"]
    assert names(api.get("/companies", params={"limit": 2, "page": 3})) == []
    assert names(api.get("/companies", params={"linkedContactsIds": 2})) == ["Alpha"]
    assert names(api.get("/companies", params={"linkedDealsIds": DEAL})) == ["Alpha"]
    assert names(api.get("/companies", params={"createdSince": "2030-01-01T12:00:00.000Z"})) == ["Gamma", "Alpha"]
    assert names(api.get("/companies", params={"modifiedSince": "2030-01-02T12:00:00+00:00"})) == ["Gamma"]
    by_json = {"filters": orjson.dumps({"attributes.domain": "alpha.io"}).decode()}
    assert names(api.get("/companies", params=by_json)) == ["Alpha"]
    assert names(api.get("/companies", params={"filters[attributes.name]": "Beta"})) == ["Beta"]
    assert names(api.get("/companies", params={"filters[attributes.revenue]": "30.0"})) == ["Beta"]
    assert names(api.get("/companies", params={"filters[attributes.number_of_contacts]": "2"})) == ["Alpha"]
    assert names(api.get("/companies", params={"filters[attributes.name]": "beta"})) == [], "exact match"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filters": "not json"}, "invalid_parameter"),
        ({"filters": "[1]"}, "invalid_parameter"),
        ({"filters": '{"name": "Acme"}'}, "invalid_parameter"),
        ({"filters[attributes.colour]": "red"}, "invalid_parameter"),
        ({"sortBy": "colour"}, "invalid_parameter"),
        ({"sort": "sideways"}, "invalid_parameter"),
        ({"page": 0}, "out_of_range"),
        ({"limit": "ten"}, "invalid_parameter"),
        ({"createdSince": "yesterday"}, "invalid_parameter"),
    ],
)
def test_listing_refuses_bad_parameters(api: SpecCheckedSession, params: dict, code: str) -> None:
    assert error(api.get("/companies", params=params))["code"] == code


# ---------------------------------------------------------------- CRM attributes


def test_company_attributes_list_the_system_ones(api: SpecCheckedSession) -> None:
    response = api.get("/crm/attributes/companies")
    assert response.status_code == 200
    by_name = {a["internalName"]: a for a in response.json()}
    assert by_name["name"] == {
        "internalName": "name",
        "attributeTypeName": "text",
        "label": "Company Name",
        "isRequired": True,
        "isValueReadonly": False,
    }
    assert by_name["number_of_contacts"]["isValueReadonly"] is True
    assert {"domain", "owner", "revenue", "created_at", "last_updated_at"} <= set(by_name)


def test_custom_attributes_are_created_listed_and_typed(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    def new(label: str, kind: str, **more: object) -> str:
        response = api.post(
            "/crm/attributes", json={"label": label, "attributeType": kind, "objectType": "companies", **more}
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]

    assert re.fullmatch(r"[0-9a-f]{24}", new("Plan Tier", "single-select", optionsLabels=["Free", "Pro Plus"]))
    new("Seats", "number")
    new("Is Partner?", "boolean")
    new("Regions", "multi-choice", optionsLabels=["EU", "US"])
    new("Renewal", "date", description="next renewal")
    listed = {a["internalName"]: a for a in api.get("/crm/attributes/companies").json()}
    assert listed["plan_tier"]["attributeTypeName"] == "single-select"
    assert listed["plan_tier"]["attributeOptions"] == [
        {"key": "free", "value": "Free"},
        {"key": "pro_plus", "value": "Pro Plus"},
    ]
    assert listed["is_partner"]["label"] == "Is Partner?"
    assert sandbox.admin("GET", "brevo/stats")["crm_attributes"] == 5

    values = {
        "plan_tier": "Pro Plus",
        "seats": 12,
        "is_partner": False,
        "regions": ["us", "EU", "US"],
        "renewal": "2031-02-03",
    }
    stored = company(api, create(api, "Acme", attributes=values))["attributes"]
    assert {k: stored[k] for k in values} == {
        "plan_tier": "pro_plus",
        "seats": 12,
        "is_partner": False,
        "regions": ["us", "eu"],
        "renewal": "2031-02-03",
    }
    for bad in ({"plan_tier": "Gold"}, {"seats": "12"}, {"is_partner": "no"}, {"regions": "EU"}, {"renewal": "soon"}):
        assert "attributes." in error(api.post("/companies", json={"name": "B", "attributes": bad}))["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"label": "Domain", "attributeType": "text", "objectType": "companies"}, "duplicate_parameter"),
        ({"label": "company name", "attributeType": "text", "objectType": "companies"}, "duplicate_parameter"),
        ({"label": "Tier", "attributeType": "single-select", "objectType": "companies"}, "missing_parameter"),
        (
            {"label": "Tier", "attributeType": "multi-choice", "objectType": "companies", "optionsLabels": ["A", "a"]},
            "invalid_parameter",
        ),
        ({"label": "x" * 51, "attributeType": "text", "objectType": "companies"}, "out_of_range"),
        ({"label": " ", "attributeType": "text", "objectType": "companies"}, "invalid_parameter"),
        ({"label": "Tier", "attributeType": "colour", "objectType": "companies"}, "invalid_parameter"),
        ({"label": "Tier", "attributeType": "text", "objectType": "people"}, "invalid_parameter"),
        ({"label": "Tier", "attributeType": "text"}, "missing_parameter"),
    ],
)
def test_attribute_creation_errors(api: SpecCheckedSession, body: dict, code: str) -> None:
    assert error(api.post("/crm/attributes", json=body))["code"] == code


def test_the_same_label_twice_is_a_duplicate(api: SpecCheckedSession) -> None:
    body = {"label": "Seats", "attributeType": "number", "objectType": "companies"}
    assert api.post("/crm/attributes", json=body).status_code == 200
    assert error(api.post("/crm/attributes", json=body))["code"] == "duplicate_parameter"
    deals = api.post("/crm/attributes", json={**body, "objectType": "deals"})
    assert deals.status_code == 200, "labels are unique per object type"
    assert [a["internalName"] for a in api.get("/crm/attributes/companies").json()].count("seats") == 1


# ---------------------------------------------------------------- import


def start_import(api: SpecCheckedSession, csv: str, mapping: dict | None = None) -> int:
    data = {"mapping": orjson.dumps(mapping).decode()} if mapping is not None else {}
    response = api.post("/companies/import", files={"file": ("companies.csv", csv.encode(), "text/csv")}, data=data)
    assert response.status_code == 200, response.text
    return response.json()["processId"]


def wait_done(api: SpecCheckedSession, process_id: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = api.get(f"/processes/{process_id}").json()
        if process["status"] in ("completed", "failed"):
            return process
        time.sleep(0.02)
    raise AssertionError(f"process {process_id} not done: {process}")


def by_name(api: SpecCheckedSession) -> dict[str, dict]:
    return {item["attributes"]["name"]: item for item in api.get("/companies", params={"limit": 100}).json()["items"]}


def test_import_creates_updates_and_links(api: SpecCheckedSession) -> None:
    existing = create(api, "Old Name", attributes={"domain": "old.io", "revenue": 1}, linkedContactsIds=[4])
    csv = (
        "name,domain,revenue,associated_contact,company_id\n"
        'Acme,acme.io,100,"1,c2@x.io",\n'
        "Globex,,2.5,3|nobody@x.io|42,\n"
        f"New Name,,,2,{existing}\n"
        f"Ghost,,,,{UNKNOWN_COMPANY}\n"
        "Bad,,lots,,\n"
        ",nameless.io,,,\n"
        "\n"
    )
    done = wait_done(api, start_import(api, csv))
    assert done["name"] == "COMPANY_IMPORT" and done["status"] == "completed"
    assert done["info"]["import"] == {"created": 2, "updated": 1, "invalid_rows": 3, "unknown_contacts": 2}
    found = by_name(api)
    assert set(found) == {"Acme", "Globex", "New Name"}
    assert found["Acme"]["linkedContactsIds"] == [1, 2] and found["Acme"]["attributes"]["revenue"] == 100
    assert found["Globex"]["linkedContactsIds"] == [3] and "domain" not in found["Globex"]["attributes"]
    renamed = found["New Name"]
    assert renamed["id"] == existing, "company_id updates instead of creating"
    assert renamed["attributes"]["domain"] == "old.io", "empty cells leave values alone"
    assert renamed["linkedContactsIds"] == [2, 4], "link_entities adds links"


def test_import_mapping_options(api: SpecCheckedSession) -> None:
    existing = create(api, "Acme", attributes={"domain": "acme.io", "revenue": 5}, linkedContactsIds=[1, 2])
    replace = {"unlink_entities": True, "unset_empty_attributes": True}
    wait_done(api, start_import(api, f"company_id;name;domain;revenue;associated_contact\n{existing};;;7;3\n", replace))
    updated = company(api, existing)
    assert updated["linkedContactsIds"] == [3], "unlink_entities: the row's list replaces the links"
    assert updated["attributes"]["name"] == "Acme" and "domain" not in updated["attributes"]
    assert updated["attributes"]["revenue"] == 7
    no_links = {"link_entities": False}
    wait_done(api, start_import(api, f"company_id,associated_contact\n{existing},4\n", no_links))
    assert company(api, existing)["linkedContactsIds"] == [3]
    as_new = {"update_existing_records": False}
    done = wait_done(api, start_import(api, f"company_id,name\n{existing},Acme\n", as_new))
    assert done["info"]["import"]["created"] == 1
    assert len(api.get("/companies", params={"filters[attributes.name]": "Acme"}).json()["items"]) == 2


def test_import_waits_for_the_import_delay(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", import_delay_seconds=0.6)
    process_id = start_import(api, "name\nLater\n")
    first = api.get(f"/processes/{process_id}").json()
    assert first["status"] in ("queued", "processing") and first["name"] == "COMPANY_IMPORT"
    assert api.get("/companies").json() == {"items": []}
    assert wait_done(api, process_id)["status"] == "completed"
    assert names(api.get("/companies")) == ["Later"]
    listed = api.get("/processes").json()["processes"]
    assert [p["name"] for p in listed] == ["COMPANY_IMPORT"]


def test_import_request_errors(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    def post(**kwargs: object) -> dict:
        return error(api.post("/companies/import", **kwargs))

    assert post(files={"mapping": (None, "{}")})["code"] == "missing_parameter"
    assert "colour" in post(files={"file": ("c.csv", b"name,colour\nA,red\n")})["message"]
    assert "name or a company_id" in post(files={"file": ("c.csv", b"domain\na.io\n")})["message"]
    assert "twice" in post(files={"file": ("c.csv", b"name,Name\nA,B\n")})["message"]
    assert "UTF-8" in post(files={"file": ("c.csv", b"name\n\xff\xfe\n")})["message"]
    assert "mapping" in post(files={"file": ("c.csv", b"name\nA\n")}, data={"mapping": "[true]"})["message"]
    bad_flag = post(files={"file": ("c.csv", b"name\nA\n")}, data={"mapping": '{"link_entities": "yes"}'})
    assert "link_entities" in bad_flag["message"]
    assert post(json={"file": "name\nA\n"})["code"] == "invalid_parameter"
    garbage = post(data=b"garbage", headers={"content-type": "multipart/form-data; boundary=x"})
    assert garbage == {"code": "invalid_parameter", "message": "The body is not valid multipart/form-data"}
    assert sandbox.admin("GET", "brevo/stats")["processes"] == 0


def test_import_reads_a_file_sent_as_a_plain_field(api: SpecCheckedSession) -> None:
    response = api.post("/companies/import", files={"file": (None, "name\nPlain\n")})
    assert response.status_code == 200, response.text
    wait_done(api, response.json()["processId"])
    assert names(api.get("/companies")) == ["Plain"]


# ---------------------------------------------------------------- rate limit and admin


def test_companies_and_crm_share_the_100_per_hour_bucket(sandbox: SandboxProcess) -> None:
    sandbox.admin("PUT", "clock", json={"now": "2030-01-01T00:00:00Z"})  # the start of an hourly window
    api = SpecCheckedSession(sandbox.brevo)
    remaining = []
    for call in (
        lambda: api.get("/companies"),
        lambda: api.post("/companies", json={"name": "Acme"}),
        lambda: api.get("/crm/attributes/companies"),
        lambda: api.post(
            "/crm/attributes", json={"label": "Seats", "attributeType": "number", "objectType": "companies"}
        ),
        lambda: api.post("/companies/import", files={"file": ("c.csv", b"name\nA\n")}),
        lambda: api.get("/processes"),
    ):
        response = call()
        assert response.status_code < 300, response.text
        assert response.headers["x-sib-ratelimit-limit"] == "100"
        remaining.append(int(response.headers["x-sib-ratelimit-remaining"]))
    assert remaining == [99, 98, 97, 96, 95, 94]
    company_id = api.get("/companies").json()["items"][0]["id"]
    for _ in range(93):
        assert api.get(f"/companies/{company_id}").status_code == 200
    blocked = api.patch(f"/companies/link-unlink/{company_id}", json={})
    assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_requests"
    assert api.get("/contacts").status_code == 200, "contacts keep their own bucket"


def test_admin_lists_every_company_with_its_links(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    first = create(api, "First", linkedContactsIds=[1, 2])
    second = create(api, "Second", linkedDealsIds=[DEAL])
    seen = sandbox.admin("GET", "brevo/companies")
    assert seen["count"] == 2
    assert [(c["id"], c["linkedContactsIds"], c["linkedDealsIds"]) for c in seen["companies"]] == [
        (first, [1, 2], []),
        (second, [], [DEAL]),
    ]
    stats = sandbox.admin("GET", "brevo/stats")
    assert (stats["companies"], stats["company_contacts"], stats["crm_attributes"]) == (2, 2, 0)
