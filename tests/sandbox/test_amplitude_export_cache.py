"""The export cache: a finished zip is served again, byte for byte, until ingestion, a reset or a setting changes
what the window's zip must hold. A cached answer is a file, so it carries a Content-Length; a zip built on the
fly is chunked."""

from __future__ import annotations

import pytest
import requests
from sandbox.process import SandboxProcess
from test_amplitude_support import all_events, export_recent, hour_of, ingest, read_zip, sandbox_now


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", export_latency_hours=-1)
    return sandbox


def _served_from_cache(response: requests.Response) -> bool:
    assert response.status_code == 200
    return "content-length" in response.headers


def _events(n: int, kind: str = "x") -> list[dict]:
    return [{"user_id": f"user-{i:04d}", "event_type": kind, "event_properties": {"i": i}} for i in range(n)]


def test_second_export_is_the_same_bytes_from_the_cache(amp: SandboxProcess) -> None:
    assert ingest(amp, _events(30)).status_code == 200
    built = export_recent(amp)
    assert not _served_from_cache(built)
    again = export_recent(amp)
    assert _served_from_cache(again) and int(again.headers["content-length"]) == len(again.content)
    assert again.content == built.content
    assert again.headers["content-type"] == built.headers["content-type"] == "application/zip"
    assert again.headers["content-disposition"] == built.headers["content-disposition"]


def test_ingestion_into_the_window_invalidates_it(amp: SandboxProcess) -> None:
    ingest(amp, _events(10))
    export_recent(amp)
    assert _served_from_cache(export_recent(amp))
    assert ingest(amp, [{"user_id": "user-late", "event_type": "late"}]).status_code == 200
    fresh = export_recent(amp)
    assert not _served_from_cache(fresh)
    events = all_events(fresh.content)
    assert len(events) == 11 and events[-1]["event_type"] == "late"
    cached = export_recent(amp)
    assert _served_from_cache(cached) and cached.content == fresh.content


def test_a_reset_drops_the_cache_even_for_the_same_counts(amp: SandboxProcess) -> None:
    ingest(amp, _events(5, "before"))
    export_recent(amp)
    assert _served_from_cache(export_recent(amp))
    amp.reset()
    amp.configure("amplitude", export_latency_hours=-1)
    ingest(amp, _events(5, "after"))  # same hour, same count, same sizes: only the contents differ
    response = export_recent(amp)
    assert not _served_from_cache(response)
    assert {e["event_type"] for e in all_events(response.content)} == {"after"}


def test_settings_that_shape_the_zip_are_part_of_the_key(amp: SandboxProcess) -> None:
    ingest(amp, _events(4))
    first = read_zip(export_recent(amp).content)
    assert len(first) == 1
    amp.configure("amplitude", export_partition_events=2)
    response = export_recent(amp)
    assert not _served_from_cache(response) and [len(v) for v in read_zip(response.content).values()] == [2, 2]
    amp.configure("amplitude", project_id=123)
    renamed = export_recent(amp)
    assert not _served_from_cache(renamed) and all(name.startswith("123/123_") for name in read_zip(renamed.content))


def test_entries_are_per_region_and_per_hours_with_data(amp: SandboxProcess) -> None:
    ingest(amp, _events(3))
    ingest(amp, [{"user_id": "user-eu", "event_type": "eu only"}], region="eu")
    export_recent(amp)
    export_recent(amp, region="eu")
    us, eu = export_recent(amp), export_recent(amp, region="eu")
    assert _served_from_cache(us) and _served_from_cache(eu)
    assert len(all_events(us.content)) == 3 and [e["event_type"] for e in all_events(eu.content)] == ["eu only"]
    wider = export_recent(amp, hours_back=5)  # a wider window holding the same hours with data: the same zip
    assert _served_from_cache(wider) and wider.content == us.content


def test_a_pending_corrupt_gzip_fault_is_never_cached_nor_served_around(amp: SandboxProcess) -> None:
    ingest(amp, _events(20))
    clean = export_recent(amp)
    assert _served_from_cache(export_recent(amp))
    amp.admin("POST", "amplitude/corrupt-gzip", json={"hour": hour_of(sandbox_now(amp)), "count": 1})
    broken = export_recent(amp)
    assert not _served_from_cache(broken) and broken.content != clean.content
    after = export_recent(amp)
    assert _served_from_cache(after) and after.content == clean.content


def test_cache_off_builds_every_export(amp: SandboxProcess) -> None:
    ingest(amp, _events(3))
    export_recent(amp)
    assert _served_from_cache(export_recent(amp))
    amp.configure("amplitude", export_cache_bytes=0)
    assert not _served_from_cache(export_recent(amp))
    assert not _served_from_cache(export_recent(amp))


def test_a_zip_over_the_budget_is_served_but_not_kept(amp: SandboxProcess) -> None:
    ingest(amp, _events(200))
    amp.configure("amplitude", export_cache_bytes=1000)
    first = export_recent(amp)
    assert len(first.content) > 1000 and len(all_events(first.content)) == 200
    assert not _served_from_cache(export_recent(amp))
