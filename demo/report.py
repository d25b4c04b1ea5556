"""The demo's report: what landed in the sandbox's Brevo account, read through its inspection routes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from sandbox.process import SandboxProcess

SHOWN_ATTRIBUTES = [
    "FIRSTNAME",
    "LASTNAME",
    "SMS",
    "PLAN",
    "SIGNUP_DATE",
    "ORDER_COUNT",
    "LTV",
    "LAST_ACTIVE",
    "DEVICE",
]


def snapshot(sandbox: SandboxProcess) -> dict[str, Any]:
    """Counts before the run, so the report can show what this run changed."""
    stats = sandbox.admin("GET", "brevo/stats")
    lists = {l["id"]: l["uniqueSubscribers"] for l in _lists(sandbox)}
    return {"stats": stats, "lists": lists}


def _lists(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return sandbox.admin("GET", "brevo/lists").get("lists", [])


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False))
    return "\n".join(
        ["    " + line(header), "    " + "  ".join("-" * w for w in widths), *("    " + line(r) for r in rows)]
    )


def _page_all(sandbox: SandboxProcess, path: str, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = sandbox.admin("GET", path, limit=1000, offset=len(found)).get(key, [])
        found.extend(page)
        if len(page) < 1000:
            return found


def print_report(sandbox: SandboxProcess, before: dict[str, Any], output: Path) -> None:
    stats = sandbox.admin("GET", "brevo/stats")
    delta = lambda k: stats[k] - before["stats"].get(k, 0)

    print(f"\n  Contacts: {stats['contacts']:,} (+{delta('contacts'):,} this run). A few of them:")
    # picked by email, so the same data shows the same contacts (ids follow the order Brevo created them in)
    everyone = sorted(_page_all(sandbox, "brevo/contacts", "contacts"), key=lambda c: c.get("email") or "")
    contacts = everyone[len(everyone) // 2 : len(everyone) // 2 + 5]
    rows = [
        [c.get("email", "")] + [str(c.get("attributes", {}).get(a, "")) for a in SHOWN_ATTRIBUTES] for c in contacts
    ]
    print(table(rows, ["email", *SHOWN_ATTRIBUTES]))

    summary_file = output / "brevo-summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    print("\n  Lists (cohort -> Brevo list):")
    rows = []
    for lst in _lists(sandbox):
        was = before["lists"].get(lst["id"], 0)
        now = lst["uniqueSubscribers"]
        sync = summary.get("lists", {}).get(str(lst["id"]), {})
        held = sync.get("removals_blocked", 0)
        note = f"{held:,} removals held back (over mirror_max_removal_fraction)" if held else sync.get("mode", "")
        if now or was:
            rows.append([lst["id"], lst["name"], f"{now:,}", f"{now - was:+,}", note])
    print(table(rows, ["id", "name", "members", "change", "sync"]))

    events = _page_all(sandbox, "brevo/events", "events")
    by_name = Counter(e.get("event_name") for e in events)
    print(f"\n  Events: {stats['events']:,} (+{delta('events'):,} this run)")
    ranked = sorted(by_name.items(), key=lambda item: (-item[1], item[0] or ""))
    print(table([[n, f"{c:,}"] for n, c in ranked], ["event_name", "count"]))
    _print_event_types(summary)

    orders = _page_all(sandbox, "brevo/orders", "orders")
    revenue = sum(float(o["order"].get("amount") or 0) for o in orders)
    sent = summary.get("objects", {}).get("orders", {})
    print(
        f"\n  Orders: {stats['orders']:,} (+{delta('orders'):,} this run), revenue {revenue:,.2f}; this run "
        f"{sent.get('sent_live', 0):,} live (automations fire) and {sent.get('sent_historical', 0):,} historical "
        "(older than the live window: stored, no automation)"
    )
    updated = sent.get("sent_live", 0) + sent.get("sent_historical", 0) - delta("orders")
    if updated > 0:
        print(
            f"    {updated:,} of the orders sent were in Brevo already (the previous chapter's live section sent them): "
            "an order's id is its event's uuid, so Brevo updated them rather than adding them twice."
        )
    _print_companies(sandbox, summary)
    _print_mapping_coverage(summary)

    rejects = summary.get("rejects", {})
    print(
        f"\n  Rejected records this run: {rejects.get('total', 0):,} (each with its reason in "
        f"output/brevo-rejects.jsonl, this run's {Path(rejects.get('file', 'rejects file')).name})"
    )
    if rejects.get("by_reason"):
        print(table([[r, f"{c:,}"] for r, c in rejects["by_reason"].items()], ["reason", "count"]))

    calls = summary.get("api_calls", {})
    if calls:
        print("\n  Brevo API calls by endpoint (from target-brevo's summary):")
        print(table([[k, f"{v:,}"] for k, v in sorted(calls.items())], ["endpoint", "calls"]))


def _print_companies(sandbox: SandboxProcess, summary: dict[str, Any]) -> None:
    companies = sandbox.admin("GET", "brevo/companies").get("companies", [])
    if not companies:
        return
    outcome = summary.get("objects", {}).get("companies", {})
    print(
        f"\n  Companies (Amplitude accounts): {len(companies):,}; this run {outcome.get('created', 0):,} created, "
        f"{outcome.get('updated', 0):,} updated, {outcome.get('unchanged', 0):,} unchanged (no call), "
        f"{outcome.get('members_linked', 0):,} contacts linked. A few of them:"
    )
    shown = ["domain", "industry", "plan", "number_of_employees"]
    rows = [
        [
            c["attributes"].get("name", ""),
            *(str(c["attributes"].get(a, "")) for a in shown),
            len(c["linkedContactsIds"]),
        ]
        for c in sorted(companies, key=lambda c: c["attributes"].get("name", ""))[:5]
    ]
    print(table(rows, ["name", *shown, "contacts"]))


def _print_event_types(summary: dict[str, Any]) -> None:
    types = summary.get("event_types", {})
    if not types:
        return
    print(
        "\n  This run, per Amplitude event type (events older than the live window, 24 h, are not sent: "
        "Brevo would fire automations on them):"
    )
    outcomes = ["seen", "sent", "skipped_too_old", "skipped_unmapped", "skipped_already_delivered"]
    rows = [[name, *(f"{counts.get(o, 0):,}" for o in outcomes)] for name, counts in sorted(types.items())]
    print(table(rows, ["event_type", "seen", "sent", "too old", "unmapped", "already sent"]))
    already = sum(counts.get("skipped_already_delivered", 0) for counts in types.values())
    if already:
        print(
            f"    {already:,} of these events were in Brevo already (the previous chapter's live section sent them as "
            "they happened): the delivery ledger target-brevo shares with target-brevo-realtime kept them from "
            "being sent twice."
        )


def _print_mapping_coverage(summary: dict[str, Any]) -> None:
    paths = summary.get("property_mapping", {})
    if not paths:
        return
    print("\n  Mapping coverage (property_mapping: records with a value for each mapped property):")
    rows = []
    for path, counts in sorted(paths.items()):
        records, filled = counts.get("records", 0), counts.get("with_value", 0)
        rows.append([path, f"{filled:,} of {records:,}", f"{100 * filled / records:.0f}%" if records else "-"])
    print(table(rows, ["property", "with a value", "share"]))
