"""The singer-sdk standard target tests. Their streams are not routed to Brevo (they are skipped with a
warning each), which exercises parsing, validation, routing and STATE handling without network."""

from __future__ import annotations

import pytest
from singer_sdk.testing import get_target_test_class
from target_brevo.target import TargetBrevo

SAMPLE_CONFIG = {"api_key": "xkeysib-standard-tests", "api_url": "http://127.0.0.1:9/v3", "ledger_path": ":memory:"}

StandardTargetTests = get_target_test_class(target_class=TargetBrevo, config=SAMPLE_CONFIG)


class TestTargetBrevo(StandardTargetTests):  # type: ignore[misc, valid-type]
    @pytest.fixture(scope="class")
    def resource(self):
        return "resource"
