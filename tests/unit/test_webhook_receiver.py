"""The webhook receiver and its spool, in process: a real uvicorn server on a free loopback port, posted to with
requests; the spool file is checked with a connection of its own."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from webhook_receiver import Endpoint, GroupCommitter, Receiver, Spool, SpoolError, SpoolFull, shared_secret

SECRET = "Bearer s3cret-value"
GOOD = {"Authorization": SECRET}


def rows(path: Path) -> list[tuple[int, str, bytes]]:
    """The spool's rows as another process would see them."""
    with sqlite3.connect(path) as connection:
        return [(seq, kind, bytes(body)) for seq, kind, body in connection.execute("SELECT seq, kind, body FROM spool")]


def classify(payload: Any) -> list[tuple[str, Any]]:
    """A toy contract: objects with a `kind`, or an array of them."""
    items = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(item, dict) and isinstance(item.get("kind"), str) for item in items):
        raise ValueError("every item needs a kind")
    return [(item["kind"], item) for item in items]


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.sqlite3") as opened:
        yield opened


def serve(spool: Spool, *, max_body_bytes: int = 1000) -> Receiver:
    receiver = Receiver(
        [Endpoint("/hooks", shared_secret("Authorization", SECRET), classify)],
        spool,
        host="127.0.0.1",
        port=0,
        max_body_bytes=max_body_bytes,
    )
    receiver.start()
    return receiver


@pytest.fixture
def receiver(spool: Spool) -> Iterator[Receiver]:
    running = serve(spool)
    yield running
    running.stop()


def post(receiver: Receiver, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) or hasattr(body, "__next__") else orjson.dumps(body)
    return requests.post(f"{receiver.url}/hooks", data=data, headers=GOOD if headers is None else headers, timeout=10)


# -- the spool --------------------------------------------------------------------------------------


def test_spool_appends_in_order_reads_after_and_prunes(spool: Spool) -> None:
    assert spool.append([("a", b"1"), ("b", b"22")]) == 2
    assert spool.append_groups([[("c", b"3")], [("d", b"4"), ("e", b"5")]]) == [3, 5]
    assert [(i.seq, i.kind, i.body) for i in spool.read_after(1, 3)] == [
        (2, "b", b"22"),
        (3, "c", b"3"),
        (4, "d", b"4"),
    ]
    assert spool.stats().pending == 5 and spool.stats().pending_bytes == 6
    assert spool.prune_through(3) == 3
    assert [item.seq for item in spool.read_after(0, 10)] == [4, 5]
    assert spool.stats().pending == 2 and spool.stats().pending_bytes == 2
    assert spool.read_after(0, 1)[0].received_at == pytest.approx(time.time(), abs=60)


def test_spool_never_reuses_a_seq_even_when_emptied_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    with Spool(path) as spool:
        spool.append([("a", b"1"), ("a", b"2")])
        spool.prune_through(2)
        assert spool.stats().pending == 0
    with Spool(path) as spool:
        assert spool.stats().last_seq == 2
        assert spool.append([("a", b"3")]) == 3


def test_spool_continues_after_a_bookmark_it_is_behind(tmp_path: Path) -> None:
    with Spool(tmp_path / "new.sqlite3") as spool:
        assert spool.continue_after(41) is True
        assert spool.append([("a", b"x")]) == 42
        assert spool.continue_after(10) is False
    with Spool(tmp_path / "new.sqlite3") as spool:
        assert spool.append([("a", b"y")]) == 43


def test_spool_size_guard_refuses_what_would_pass_the_limit(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite3", max_bytes=10) as spool:
        spool.append([("a", b"12345678")])
        with pytest.raises(SpoolFull):
            spool.append([("a", b"123")])
        spool.prune_through(1)
        assert spool.append([("a", b"123")]) == 2


def test_spool_file_is_owned_by_one_process_at_a_time(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite3"), pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path / "spool.sqlite3")
    Spool(tmp_path / "spool.sqlite3").close()  # free again once closed


def test_spool_is_durable_wal_with_full_sync(spool: Spool) -> None:
    connection = spool._writer
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_wait_beyond_wakes_on_append(spool: Spool) -> None:
    threading.Timer(0.1, lambda: spool.append([("a", b"1")])).start()
    started = time.monotonic()
    assert spool.wait_beyond(0, timeout=5) is True
    assert time.monotonic() - started < 2
    assert spool.wait_beyond(1, timeout=0.05) is False


def test_group_committer_shares_transactions_and_numbers_each_request_contiguously(spool: Spool) -> None:
    committer = GroupCommitter(spool)
    try:
        with ThreadPoolExecutor(16) as pool:
            futures = list(pool.map(lambda i: committer.submit([("a", b"%d" % i), ("b", b"%d" % i)]), range(400)))
            lasts = [future.result(timeout=10) for future in futures]
    finally:
        committer.close()
    assert sorted(lasts) == list(range(2, 801, 2))
    by_seq = {item.seq: item.body for item in spool.read_after(0, 1000)}
    for last in lasts:  # both items of a request sit side by side
        assert by_seq[last - 1] == by_seq[last]
    assert committer.commits < 400, "concurrent requests share commits (one fsync for several)"


# -- the HTTP contract ------------------------------------------------------------------------------


def test_accepted_body_is_in_the_spool_file_when_200_arrives(receiver: Receiver, spool: Spool) -> None:
    for n in range(1, 6):
        response = post(receiver, [{"kind": "event", "n": n}, {"kind": "user", "n": n}])
        assert response.status_code == 200
        assert response.json() == {"accepted": 2}
        kept = rows(spool.path)  # read by another connection: committed, not merely queued
        assert len(kept) == 2 * n
        assert orjson.loads(kept[-1][2]) == {"kind": "user", "n": n}
    assert receiver.counts["requests"] == 5 and receiver.counts["items"] == 10


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET + "x"}, {"X-Other": SECRET}],
    ids=["missing", "wrong", "longer", "other-header"],
)
def test_bad_secret_gets_401_without_echo_and_nothing_kept(receiver: Receiver, spool: Spool, headers) -> None:
    response = post(receiver, {"kind": "event"}, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert "s3cret" not in response.text and "wrong" not in response.text
    assert rows(spool.path) == []


def test_auth_is_checked_before_size(receiver: Receiver) -> None:
    assert post(receiver, b"x" * 5000, {}).status_code == 401


def test_oversize_body_gets_413_by_content_length_and_by_streamed_size(receiver: Receiver, spool: Spool) -> None:
    big = orjson.dumps({"kind": "event", "pad": "x" * 2000})
    declared = post(receiver, big)
    assert declared.status_code == 413
    assert "larger than 1000 bytes" in declared.json()["error"]
    streamed = post(receiver, iter([big[:500], big[500:]]))  # chunked: no Content-Length
    assert streamed.status_code == 413
    assert rows(spool.path) == []
    assert post(receiver, iter([b'{"kind":', b'"event"}'])).status_code == 200  # chunked and small is fine


def test_malformed_json_and_unacceptable_body_get_400_with_the_reason(receiver: Receiver, spool: Spool) -> None:
    malformed = post(receiver, b'{"kind": ')
    assert malformed.status_code == 400
    assert malformed.json()["error"].startswith("malformed JSON")
    refused = post(receiver, [{"kind": "event"}, {"no": "kind"}])  # one bad item refuses the whole body
    assert refused.status_code == 400
    assert refused.json() == {"error": "every item needs a kind"}
    assert post(receiver, []).json() == {"error": "the body holds nothing to keep"}
    assert rows(spool.path) == []
    assert receiver.counts["status_400"] == 3


def test_full_spool_gets_503_so_the_sender_retries(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite3", max_bytes=60) as spool:
        receiver = serve(spool)
        try:
            assert post(receiver, {"kind": "event", "pad": "x" * 20}).status_code == 200
            full = post(receiver, {"kind": "event", "pad": "y" * 20})
            assert full.status_code == 503
            assert full.headers["Retry-After"]
            assert full.json() == {"error": "spool full, retry later"}
            assert len(rows(spool.path)) == 1
        finally:
            receiver.stop()


def test_disk_full_gets_503_and_nothing_is_kept(spool: Spool) -> None:
    receiver = serve(spool, max_body_bytes=100_000)
    try:
        assert post(receiver, {"kind": "event"}).status_code == 200
        pages = spool._writer.execute("PRAGMA page_count").fetchone()[0]
        spool._writer.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        response = post(receiver, {"kind": "event", "pad": "z" * 20_000})
        assert response.status_code == 503
        assert response.json() == {"error": "spool unavailable, retry later"}
        assert len(rows(spool.path)) == 1
        assert spool.stats().pending == 1
    finally:
        receiver.stop()


def test_health_reports_the_spool_and_503_when_it_is_unreadable(receiver: Receiver, spool: Spool) -> None:
    post(receiver, [{"kind": "event"}, {"kind": "event"}])
    health = requests.get(f"{receiver.url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "pending": 2, "pending_bytes": 2 * len(b'{"kind":"event"}'), "last_seq": 2}
    spool.path.unlink()
    spool.path.with_name(spool.path.name + "-wal").unlink()
    down = requests.get(f"{receiver.url}/health", timeout=5)
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"


def test_stop_refuses_new_connections_but_finishes_the_request_in_flight(spool: Spool) -> None:
    receiver = serve(spool)
    first_half_sent = threading.Event()
    release = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b'{"kind": "event", '
        first_half_sent.set()
        release.wait(5)
        yield b'"late": true}'

    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(post, receiver, slow_body())
        assert first_half_sent.wait(5)
        time.sleep(0.2)  # the request has reached the server
        stopping = pool.submit(receiver.stop)
        time.sleep(0.5)  # the server has stopped listening, and waits for the request
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{receiver.url}/hooks", data=b'{"kind":"event"}', headers=GOOD, timeout=2)
        release.set()
        assert in_flight.result(timeout=10).status_code == 200
        stopping.result(timeout=20)
    assert not receiver.running
    assert [orjson.loads(body) for _, _, body in rows(spool.path)] == [{"kind": "event", "late": True}]


def test_address_in_use_is_a_clear_error(receiver: Receiver, spool: Spool, tmp_path: Path) -> None:
    with Spool(tmp_path / "other.sqlite3") as other:
        second = Receiver(
            [Endpoint("/hooks", shared_secret("Authorization", SECRET), classify)],
            other,
            host="127.0.0.1",
            port=receiver.port,
            max_body_bytes=1000,
        )
        with pytest.raises(Exception, match=f"could not listen on 127.0.0.1:{receiver.port}"):
            second.start()


@pytest.mark.parametrize("secret", ["", "Bearer x ", " Bearer x"])
def test_shared_secret_refuses_a_secret_no_header_can_carry(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        shared_secret("Authorization", secret)
