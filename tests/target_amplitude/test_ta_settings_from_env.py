"""Fractional settings set through the environment: Meltano passes them as text (meltano.yml declares no kind)."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_amplitude.target import TargetAmplitude

TEXT_SETTINGS = {
    "throttle_wait_seconds": "0.5",
    "backoff_base_seconds": "0.05",
    "backoff_max_seconds": "2",
    "request_timeout_seconds": "7.5",
    "flush_interval_seconds": "0.25",
}


def test_fractional_settings_given_as_text_are_read_as_numbers(tmp_path) -> None:
    config = {"api_key": "k" * 32, "ledger_path": str(tmp_path / "ledger.sqlite3"), **TEXT_SETTINGS}
    settings = TargetAmplitude(config=config, validate_config=True).settings
    assert settings.throttle_wait_seconds == 0.5 and settings.flush_interval_seconds == 0.25
    assert (settings.retry.backoff_base, settings.retry.backoff_max, settings.retry.timeout) == (0.05, 2.0, 7.5)


def test_a_setting_that_is_not_a_number_is_refused(tmp_path) -> None:
    config = {"api_key": "k" * 32, "ledger_path": str(tmp_path / "ledger.sqlite3"), "throttle_wait_seconds": "soon"}
    with pytest.raises(ConfigValidationError) as refused:
        TargetAmplitude(config=config, validate_config=True)
    assert "throttle_wait_seconds" in " ".join(refused.value.errors)
