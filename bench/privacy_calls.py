"""What target-brevo's privacy features cost in Brevo calls and time (issue 13): erasures, update-only and
insert-only contacts, and consent gating on the events hot path.

Each scenario starts its own sandbox, runs the real `target-brevo` CLI on generated Singer messages (stdin) and
counts the Brevo calls it made per endpoint in the sandbox's request log (429s included). Sizes at --scale 1,
the issue's:

    deletions    1,000 contacts delivered, then a `deletions` stream erasing all of them with deletion_action
                 `delete`, then `blocklist` (other contacts), and the same 1,000 deletions again (already
                 erased); extended plan (60 contacts calls/s) since the point is counting, the general plan's
                 floor computed. `delete_transactional_logs` at 50 deletions on the general plan (its calls
                 draw on the 300-per-hour `/smtp/*` bucket), extrapolated to 1,000.
    update-only  10,000 contacts (half of them in Brevo) against accounts of 10,000 and 50,000 contacts,
                 general plan; the one-call-each path (PUT /contacts/{id}) at 200, extrapolated; a naive
                 GET per contact, computed.
    insert-only  the same 10,000 contacts (half in Brevo), general plan.
    consent      100,000 events with and without `consent_field` (10% of the users refused), rate limits
                 off: the target's own time.

    .venv/bin/python bench/privacy_calls.py                              # the issue's sizes: about 3 minutes
    .venv/bin/python bench/privacy_calls.py --scale 0.1 --no-results     # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from tap_amplitude import schemas
from target_calls import (
    AMPLITUDE_ID,
    Run,
    bench,
    check,
    duration,
    email,
    ext_id,
    floor_seconds,
    per_scope,
    record_messages,
    schema_message,
    users,
    write_messages,
)

SECTION = "privacy-calls"

FULL = {
    "deletions": 1_000,
    "logs": 50,
    "contacts": 10_000,
    "one_call_each": 200,
    "events": 100_000,
}
ACCOUNTS = (10_000, 50_000)  # contacts already in Brevo for update_only, at --scale 1
LOGS_MAX = 90  # the logs variant stays inside one window of the 300-per-hour `/smtp/*` bucket
EVENTS_PER_USER = 20
REFUSED_EVERY = 10  # one user in ten refused consent
ROUNDS = 2  # runs of each consent setting

EVENT_MAPPING = {"Purchase": "order_completed", "Page View": "page_viewed", "Add to Cart": "cart_updated"}
CONSENT_FIELD = "user_properties.marketing_consent"


def deletions(people: Iterable[int]) -> Iterator[dict[str, Any]]:
    yield schema_message("deletions", schemas.DELETIONS, ["amplitude_id", "day"])
    yield from record_messages(
        "deletions", ({"amplitude_id": AMPLITUDE_ID + i, "day": "2026-11-30", "status": "done"} for i in people)
    )


def consents(u: int) -> Any:
    return "no" if u % REFUSED_EVERY == 0 else (True if u % 2 else "granted")


def events(n: int) -> Iterator[dict[str, Any]]:
    types = list(EVENT_MAPPING)
    people = max(n // EVENTS_PER_USER, 1)
    yield schema_message("events", schemas.EVENTS, ["uuid"])
    yield from record_messages(
        "events",
        (
            {
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "event_type": types[i % len(types)],
                "event_time": f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "server_upload_time": "2026-01-02T00:00:00Z",
                "amplitude_id": AMPLITUDE_ID + i % people,
                "user_id": ext_id(i % people),
                "event_properties": {"item_id": f"sku-{i % 500}", "value": i % 97},
                "user_properties": {"email": email(i % people), "marketing_consent": consents(i % people)},
            }
            for i in range(n)
        ),
    )


# ---------------------------------------------------------------- scenarios# ---------------------------------------------------------------- scenarios


@dataclass
class Results:
    deletions: list[tuple[Run, str]] = field(default_factory=list)  # (run, what it stands for)
    contacts: list[tuple[Run, str]] = field(default_factory=list)
    update_only: dict[int, Run] = field(default_factory=dict)  # contacts in Brevo -> the bulk-read run
    one_call_each: Run | None = None
    consent: list[Run] = field(default_factory=list)
    setup: list[Run] = field(default_factory=list)  # deliveries that put the contacts to erase in Brevo
    notes: list[str] = field(default_factory=list)


def scenario_deletions(work: Path, sizes: dict[str, int], out: Results) -> None:
    n, m = sizes["deletions"], sizes["logs"]
    with bench(work, "deletions", plan="extended") as b:
        for action, people in (("delete", range(n)), ("blocklist", range(n, 2 * n))):
            config = b.config(action, deletion_action=action)
            deliver = write_messages(b.work / f"users-{action}.jsonl", users(people))
            erase = write_messages(b.work / f"deletions-{action}.jsonl", deletions(people))
            out.setup.append(b.run(f"deliver {n:,} contacts ({action} variant)", config, deliver, n))
            before = b.stats()["contacts"]
            run = b.run(f"deletion_action={action}", config, erase, n)
            check(run.count("deletions", "erased") == n, f"{action}: {n} erased")
            out.deletions.append((run, f"{n:,} deletions, `deletion_action={action}`"))
            if action == "delete":
                check(b.stats()["contacts"] == before - n, "delete: the contacts are gone")
                again = b.run("re-run of the same deletions", config, erase, n)
                check(again.count("deletions", "already_erased") == n, "re-run: already erased")
                out.deletions.append((again, f"the same {n:,} deletions again (already erased)"))
            else:
                check(b.contact(people[0])["emailBlacklisted"] is True, "blocklist: the contact is blocklisted")
    with bench(work, "deletions-logs") as b:
        config = b.config("logs", delete_transactional_logs=True)
        deliver = write_messages(b.work / "users-logs.jsonl", users(range(m)))
        erase = write_messages(b.work / "deletions-logs.jsonl", deletions(range(m)))
        out.setup.append(b.run(f"deliver {m:,} contacts (logs variant)", config, deliver, m))
        run = b.run("delete + transactional logs", config, erase, m)
        check(b.stats()["smtp_log_deletions"] == m, "logs: one transactional log deletion each")
        out.deletions.append((run, f"{m:,} deletions, `delete_transactional_logs=true`"))
    # the endpoints called once per deletion scale with the deletions; start-up calls stay
    scaled = {k: round(v * n / m) if v >= m else v for k, v in run.calls.items()}
    projected = Run(run.label, n, run.plan, scaled, 0, 0.0, 0.0, run.summary, extrapolated_from=m)
    out.deletions.append((projected, f"{n:,} deletions, `delete_transactional_logs=true`, extrapolated from {m:,}"))
    logs = per_scope(scaled).get("smtp", 0)
    out.notes.append(
        f"Transactional logs: {n:,} deletions make {logs:,} calls in the 300-per-hour `/smtp/*` bucket "
        f"(`DELETE /smtp/log`): at least {duration(floor_seconds(scaled))} on the general plan "
        f"({duration(floor_seconds(scaled, 'extended'))} on extended); the target sends at most "
        "`transactional_log_deletions_per_run` (50) of them a run and queues the rest for the next runs, so an "
        "hourly schedule works off 1,000 in 20 runs, none of them waiting on the bucket."
    )


def scenario_contacts(work: Path, sizes: dict[str, int], out: Results) -> None:
    c, s = sizes["contacts"], sizes["one_call_each"]
    for index, accounts in enumerate(sizes["accounts"]):
        with bench(work, f"contacts-{accounts}") as b:
            b.box.seed("brevo", attributes=[{"name": "PLAN", "type": "text"}])
            b.seed_contacts(range(accounts), PLAN="seeded")
            stream = range(accounts - c // 2, accounts - c // 2 + c)  # the first half is in Brevo
            mapping = {"property_mapping": {"plan": "PLAN"}}
            update = b.config(f"update-{accounts}", contact_mode="update_only", **mapping)
            run = b.run(
                f"update_only, {accounts:,} in Brevo",
                update,
                write_messages(b.work / "update.jsonl", users(stream, plan="updated")),
                c,
            )
            check(b.stats()["contacts"] == accounts, "update_only created no contact")
            check(run.count("contacts", "not_in_brevo") == c - c // 2, "update_only: the new half left out")
            check(b.contact(accounts - 1)["attributes"]["PLAN"] == "updated", "update_only: an existing one updated")
            out.contacts.append((run, f"`update_only`, {c:,} contacts, {accounts:,} in Brevo ({c // 2:,} of them)"))
            out.update_only[accounts] = run
            if index == 0:
                insert = b.config("insert", contact_mode="insert_only", **mapping)
                run = b.run(
                    "insert_only",
                    insert,
                    write_messages(b.work / "insert.jsonl", users(stream, plan="inserted")),
                    c,
                )
                check(b.stats()["contacts"] == accounts + c - c // 2, "insert_only created the new half")
                check(b.contact(accounts - 1)["attributes"]["PLAN"] == "updated", "insert_only: existing untouched")
                check(b.contact(accounts)["attributes"]["PLAN"] == "inserted", "insert_only: a new one created")
                out.contacts.append((run, f"`insert_only`, {c:,} contacts, {c // 2:,} of them in Brevo"))
            else:
                small = range(accounts - s // 2, accounts - s // 2 + s)
                each = b.config(f"each-{accounts}", contact_mode="update_only", contact_calls_max=s, **mapping)
                run = b.run(
                    "update_only one call each",
                    each,
                    write_messages(b.work / "each.jsonl", users(small, plan="put")),
                    s,
                )
                check(run.count("contacts", "brevo_updated") == s // 2, "one call each: the existing half updated")
                check(b.stats()["contacts"] == accounts, "one call each created no contact")
                out.contacts.append((run, f"`update_only` one call each (`contact_calls_max` {s:,}), {s:,} contacts"))
                out.one_call_each = run


def scenario_consent(work: Path, sizes: dict[str, int], out: Results) -> None:
    """Both settings ROUNDS times, alternating (the machine is shared); each keeps its best wall and CPU time."""
    n = sizes["events"]
    people = max(n // EVENTS_PER_USER, 1)
    dropped = sum(consents(i % people) == "no" for i in range(n))
    settings = {"no consent_field": {}, "consent_field set": {"consent_field": CONSENT_FIELD}}
    runs: dict[str, list[Run]] = {label: [] for label in settings}
    with bench(work, "consent", "rate_limits_enabled=false") as b:
        path = write_messages(b.work / "events.jsonl", events(n))
        for round_ in range(ROUNDS):
            for label, extra in settings.items():
                before = b.stats()["events"]
                config = b.config(f"{label.replace(' ', '-')}-{round_}", event_mapping=EVENT_MAPPING, **extra)
                run = b.run(label, config, path, n)
                run.summary["events_stored"] = b.stats()["events"] - before
                check(run.summary["events_stored"] == n - (dropped if extra else 0), f"{label}: events stored")
                check(run.count("events", "dropped_no_consent") == (dropped if extra else 0), f"{label}: dropped")
                runs[label].append(run)
    out.consent = [
        dataclasses.replace(min(tries, key=lambda r: r.wall), cpu=min(r.cpu for r in tries)) for tries in runs.values()
    ]
    out.notes.append(
        f"Consent: {len(range(0, people, REFUSED_EVERY)):,} of {people:,} users refused (`{CONSENT_FIELD}` on "
        f"every event); each setting run {ROUNDS} times, alternating: the best wall time and the best CPU time."
    )


SCENARIOS = {"deletions": scenario_deletions, "contacts": scenario_contacts, "consent": scenario_consent}


# ---------------------------------------------------------------- output


def per(run: Run, unit: int) -> str:
    return f"{run.total * unit / run.records:,.0f}"


def deletions_table(rows: list[tuple[Run, str]], n: int) -> str:
    header = [
        "Deletions",
        "Plan",
        "Brevo calls by endpoint",
        "Calls",
        f"Per {n:,}",
        "429s",
        "Wall",
        "General-plan floor",
    ]
    body = [
        [
            what,
            run.plan,
            run.by_endpoint(),
            f"{run.total:,}",
            per(run, n),
            "-" if run.extrapolated_from else run.limited,
            "-" if run.extrapolated_from else f"{run.wall:.1f} s",
            duration(floor_seconds(run.calls)),
        ]
        for run, what in rows
    ]
    return benchlib.table(header, body, "llllrrrr")


def contacts_table(rows: list[tuple[Run, str]], c: int) -> str:
    header = [
        "Contacts",
        "Plan",
        "Brevo calls by endpoint",
        "Calls",
        f"Per {c:,} contacts",
        "429s",
        "Wall",
        "General-plan floor",
    ]
    body = [
        [
            what,
            run.plan,
            run.by_endpoint(),
            f"{run.total:,}",
            per(run, c),
            run.limited,
            f"{run.wall:.1f} s",
            duration(floor_seconds(run.calls)),
        ]
        for run, what in rows
    ]
    return benchlib.table(header, body, "llllrrrr")


def update_only_designs(out: Results, c: int) -> str:
    """`c` contacts in update_only: the bulk read + import measured, one call each extrapolated, a GET per contact
    computed."""
    header = [f"update_only, {c:,} contacts", "Calls", "Of them per contact", "Time (general plan)", "How"]
    body = [
        [f"bulk read + import, {accounts:,} in Brevo", f"{run.total:,}", "0", f"{run.wall:.1f} s", "measured"]
        for accounts, run in out.update_only.items()
    ]
    each = out.one_call_each
    assert each is not None
    puts = round(each.calls.get("PUT /contacts/{identifier}", 0) * c / each.records)
    start_up = each.wall - each.summary["elapsed_seconds"]
    floor = duration(floor_seconds({"PUT /contacts/{identifier}": puts}))
    body.append(
        [
            "one call each (`PUT /contacts/{id}`)",
            f"{each.total - each.calls.get('PUT /contacts/{identifier}', 0) + puts:,}",
            f"{puts:,}",
            f"{duration(start_up + each.summary['elapsed_seconds'] * c / each.records)} (floor {floor})",
            f"extrapolated from {each.records:,} contacts in {each.wall:.1f} s",
        ]
    )
    bulk = next(iter(out.update_only.values()))
    naive = {**{k: v for k, v in bulk.calls.items() if k != "GET /contacts"}, "GET /contacts/{identifier}": c}
    body.append(
        [
            "naive: `GET /contacts/{id}` per contact, then the same import",
            f"{sum(naive.values()):,}",
            f"{c:,}",
            f"floor {duration(floor_seconds(naive))}",
            "computed (not a mode of the target)",
        ]
    )
    return benchlib.table(header, body, "lrrrl")


def consent_table(runs: list[Run]) -> str:
    header = [
        "Events",
        "Setting",
        "Stored in Brevo",
        "Dropped (no consent)",
        "Brevo calls",
        "Wall",
        "Events/s",
        "Target CPU",
        "CPU µs per event",
    ]
    body = [
        [
            f"{run.records:,}",
            run.label,
            f"{run.summary['events_stored']:,}",
            f"{run.count('events', 'dropped_no_consent'):,}",
            run.by_endpoint(),
            f"{run.wall:.1f} s",
            f"{run.records / run.wall:,.0f}",
            f"{run.cpu:.1f} s",
            f"{run.cpu / run.records * 1e6:.0f}",
        ]
        for run in runs
    ]
    return benchlib.table(header, body, "rlrrlrrrr")


METHOD = """How the figures are made: every scenario starts a fresh sandbox (import delay 0.5 s, the plan named
per row) and runs the real `target-brevo` CLI with generated Singer messages on stdin (tap-amplitude's schemas,
a STATE every 2,000 records); calls are counted per endpoint in the sandbox's request log (429s included), the
start-up `GET /account` of each run too (it draws on the 100-per-hour bucket of all other endpoints). *General-plan floor*: per scope
with L calls per W-second window, starting full, n calls need (ceil(n/L) - 1) x W seconds; the slowest scope
wins (the sandbox's model of Brevo's limits: contacts 10/s, the bucket of `/processes` 100 per hour, `/smtp/*`
300 per hour). The deletion runs other than the transactional-log one use the `extended` plan (60 contacts calls/s):
they count calls, and their general-plan time is that floor. The extrapolated row scales the endpoints called
once per deletion (`DELETE /contacts/{id}`, `DELETE /smtp/log/{email}`) and keeps the others. Update-only and
insert-only run on the `general` plan with real time. Consent: the sandbox's rate limits are off, so the wall
time is the target's own work plus the sandbox's (same 2 CPUs); *Target CPU* is the target process's user +
system time."""


def report(out: Results, sizes: dict[str, int], command: str, elapsed: float, load_before: str) -> str:
    load_after = benchlib.load_note()
    parts = [
        "## Privacy: Brevo calls of erasures, update-only and insert-only contacts, consent gating (issue 13)",
        "",
        f"Run {benchlib.now_stamp()}: `{command}` ({elapsed:.0f} s in all); {load_before} before, {load_after} after.",
        "",
        f"Machine: {benchlib.machine()}.",
    ]
    if out.deletions:
        parts += ["", deletions_table(out.deletions, sizes["deletions"])]
        parts += [
            "",
            "Deliveries before the erasures: " + "; ".join(f"{r.label}: {r.by_endpoint()}" for r in out.setup) + ".",
        ]
    if out.contacts:
        parts += ["", contacts_table(out.contacts, sizes["contacts"])]
        if out.update_only and out.one_call_each:
            parts += ["", update_only_designs(out, sizes["contacts"])]
    if out.consent:
        parts += ["", consent_table(out.consent)]
    parts += ["", *(f"- {note}" for note in out.notes), "", METHOD]
    return "\n".join(parts)


def scaled_sizes(scale: float) -> dict[str, Any]:
    sizes: dict[str, Any] = {name: max(int(size * scale), 2) for name, size in FULL.items()}
    sizes["logs"] = min(sizes["logs"], LOGS_MAX, sizes["deletions"])
    sizes["accounts"] = tuple(max(int(n * scale), sizes["contacts"] // 2) for n in ACCOUNTS)
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's sizes (1 = 1,000 deletions, "
                        "10,000 contacts against 10,000 and 50,000, 100,000 events)")  # fmt: skip
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios (results not written)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (inputs, logs, summaries)")
    args = parser.parse_args(argv)
    sizes = scaled_sizes(args.scale)
    only = args.only.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    load_before = benchlib.load_note()
    started = time.monotonic()
    out = Results()
    try:
        for name in only:
            print(f"==> {name}", flush=True)
            SCENARIOS[name](work, sizes, out)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    command = benchlib.command_line("bench/privacy_calls.py", argv)
    text = report(out, sizes, command, time.monotonic() - started, load_before)
    print()
    print(text)
    if args.no_results or set(only) != set(SCENARIOS):
        return
    benchlib.publish(SECTION, args.scale, text)


if __name__ == "__main__":
    main()
