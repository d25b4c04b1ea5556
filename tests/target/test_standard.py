"""The singer-sdk standard target tests. Their streams are not routed to Brevo (they are skipped with a
warning each), which exercises parsing, validation, routing and STATE handling; the only Brevo call is the
start-up key check, answered by the sandbox."""

from __future__ import annotations

import io
from importlib import resources

import pytest
from singer_sdk.testing import get_target_test_class
from target_brevo.target import TargetBrevo

# Filled with the sandbox's URL and key before the first test (the SDK's runner keeps this very dict).
SAMPLE_CONFIG: dict = {"ledger_path": ":memory:"}


@pytest.fixture(autouse=True, scope="module")
def brevo_sandbox(sandbox_session):
    SAMPLE_CONFIG.update(api_url=sandbox_session.brevo["api"], api_key=sandbox_session.brevo["api_key"])


StandardTargetTests = get_target_test_class(target_class=TargetBrevo, config=SAMPLE_CONFIG)


class TestTargetBrevo(StandardTargetTests):  # type: ignore[misc, valid-type]
    @pytest.fixture(scope="class")
    def resource(self):
        return "resource"

    def test_target_record_missing_key_property(self, tmp_path):
        """A deliberate departure from the SDK's suite, which expects MissingKeyPropertiesError: a record
        without its key property goes to the rejects file with its reason and the run goes on."""
        lines = resources.files("singer_sdk.testing") / "target_test_streams" / "record_missing_key_property.singer"
        config = {
            **SAMPLE_CONFIG,
            "stream_types": {"test_record_missing_key_property": "contacts"},
            "rejects_file": str(tmp_path / "rejects.jsonl"),
            "dry_run": True,
        }
        target = TargetBrevo(config=config)
        with pytest.MonkeyPatch.context() as patch:
            # no Brevo here: the attribute list is all the contacts sink asks for before its first record
            patch.setattr("target_brevo.brevo.api.BrevoApi.attribute_types", lambda self: {})
            target.listen(io.StringIO(lines.read_text()))
        rejected = (tmp_path / "rejects.jsonl").read_text()
        assert "missing key properties: id" in rejected
