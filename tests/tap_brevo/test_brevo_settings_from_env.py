"""Fractional settings set through the environment: Meltano passes them as text (meltano.yml declares no kind)."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_brevo.statistics import pull_settings
from tap_brevo.tap import TapBrevo
from webhook_receiver import SessionSettings

TEXT_SETTINGS = {
    "state_interval_seconds": "0.5",
    "idle_exit_seconds": "2.5",
    "progress_interval_seconds": "10",
    "statistics_lookback_minutes": "90.5",
}


def test_fractional_settings_given_as_text_are_read_as_numbers(tmp_path) -> None:
    config = {"auth_token": "t" * 20, "api_key": "xkeysib-test", "spool_path": str(tmp_path / "spool.sqlite3"),
              **TEXT_SETTINGS}  # fmt: skip
    tap = TapBrevo(config=config, validate_config=True)
    session = SessionSettings.from_config(tap.config)
    assert (session.state_interval_seconds, session.idle_exit_seconds, session.progress_interval_seconds) == (
        0.5, 2.5, 10.0,
    )  # fmt: skip
    assert pull_settings(tap.config).lookback.total_seconds() == 90.5 * 60


def test_a_setting_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ConfigValidationError) as refused:
        TapBrevo(config={"auth_token": "t" * 20, "state_interval_seconds": "soon"}, validate_config=True)
    assert "state_interval_seconds" in " ".join(refused.value.errors)
