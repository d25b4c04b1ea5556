"""The Singer SDK's standard tap tests, against the sandbox seeded so that every stream has records."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_amplitude.tap import TapAmplitude

from tap.support import STRICT_WARNINGS, at, base_config, ingest, make_events, request_deletion, set_clock
from tap.test_tap_cohorts import seed_users, upload_cohort

pytestmark = STRICT_WARNINGS


# Filled in place by `seeded_sandbox` before the suite's runner syncs; valid placeholders for collection.
CONFIG: dict = {
    "api_key": "placeholder",
    "secret_key": "placeholder",
    "start_date": "2024-03-02T00:00:00+00:00",
    "api_url": "http://127.0.0.1:9",
}


@pytest.fixture(scope="module", autouse=True)
def seeded_sandbox(sandbox_session):
    sandbox = sandbox_session
    sandbox.reset()
    seed_users(sandbox, 4)
    request_deletion(sandbox, ["user-0003"])  # a job of 2024-03-09, for the deletions stream
    ingest(
        sandbox,
        make_events(
            3,
            at(1.5),
            prefix="buy",
            event_type="purchase",
            price=4.5,
            quantity=2,
            productId="sku",
            revenueType="income",
            currency="USD",
            platform="iOS",
            country="France",
            city="Paris",
            language="fr",
            groups={"company": "acct-1"},
        ),
        when=at(1.5),
    )
    set_clock(sandbox, at(2))
    upload_cohort(sandbox, "Standard", ["user-0000", "user-0001"])
    sandbox.configure("amplitude", cohort_request_seconds=0.2)
    set_clock(sandbox, at(6))
    chart = {"id": "standard", "type": "segmentation", "params": {"events": ["_active"], "range": {"last_days": 1}}}
    sandbox.admin("POST", "amplitude/charts", json=chart)  # for chart_results and chart_series
    CONFIG.update(base_config(sandbox, cohort_properties=["email"], chart_ids=["standard"]))
    yield sandbox
    sandbox.reset()


TestTapAmplitude = get_tap_test_class(
    tap_class=TapAmplitude,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
)
