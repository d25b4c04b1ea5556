"""What target-brevo's companies cost in Brevo calls (issue 15): Amplitude groups (accounts) as Brevo companies
with their contacts linked, all of it in the 100-requests-per-hour bucket the company and CRM endpoints share.

One sandbox (general plan, real rate limits), the real `target-brevo` CLI on generated Singer messages (stdin),
Brevo calls counted per endpoint in the sandbox's request log (429s included). Sizes at --scale 1, the issue's:

    first sync   5,000 contacts delivered (a `users` run, shown, not counted), then 1,000 groups of 5 members
                 each (a `groups` run): the companies created and their members linked
    re-run       the same 1,000 groups again: no company call expected
    update       100 new contacts delivered (shown), then the 1,000 groups with 100 of them changed (a property,
                 and one of the new contacts as a 6th member)
    one call per company   the same work done with POST /companies + PATCH /companies/link-unlink/{id} per
                 company, computed

After each run the script checks what Brevo holds (companies count, links, a sample's attributes and links), so
the figures are those of a correct run.

    .venv/bin/python bench/companies_calls.py                            # the issue's sizes: under a minute
    .venv/bin/python bench/companies_calls.py --scale 0.1 --no-results   # a quick look
"""

from __future__ import annotations

import argparse
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
    WINDOW,
    Bench,
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

SECTION = "companies-calls"
FULL = {"companies": 1_000, "changed": 100}
MEMBERS = 5  # contacts per company
CHANGE_EVERY = 10  # at --scale 1, 100 of the 1,000 companies change
GROUP_TYPE = "company"
KEY_ATTRIBUTE = "amplitude_group"  # the target's default company_key_attribute
COMPANY_MAPPING = {
    "group_properties.plan": "plan",
    "group_properties.employees": "employees",
    "group_properties.industry": "industry",
}
INDUSTRIES = ("software", "retail", "finance", "health")
START_UP = "GET /account"  # every run's first call, whatever the streams
ONE_EACH = ("POST /companies", "PATCH /companies/link-unlink/{id}")  # create, then link the members
ONE_EACH_UPDATE = ("PATCH /companies/{id}", "PATCH /companies/link-unlink/{id}")
PAGE = 100  # the target's GET /companies page (target_brevo.brevo.limits.COMPANIES_PAGE)
BUCKET = "other"  # the scope of /companies, /crm and /processes: 100 requests per hour on the general plan


# ---------------------------------------------------------------- generated Singer messages


def company_value(c: int) -> str:
    return f"acct-{c:05d}"


def members_of(c: int) -> range:
    """The people (contact indexes) of company `c` in the first sync."""
    return range(c * MEMBERS, (c + 1) * MEMBERS)


def member(i: int) -> dict[str, Any]:
    return {"amplitude_id": AMPLITUDE_ID + i, "user_id": ext_id(i), "email": email(i)}


@dataclass(frozen=True)
class Account:
    """One group as the tap would send it: its properties and member people."""

    c: int
    plan: str
    people: tuple[int, ...]

    @property
    def employees(self) -> int:
        return 10 + self.c % 90

    @property
    def industry(self) -> str:
        return INDUSTRIES[self.c % len(INDUSTRIES)]

    @property
    def name(self) -> str:
        return f"Account {self.c}"


def accounts(n: int, changed: dict[int, int] | None = None) -> list[Account]:
    """`n` companies; those in `changed` (company -> a new person) on the `enterprise` plan with that new member."""
    changed = changed or {}
    found = []
    for c in range(n):
        people = tuple(members_of(c))
        if c in changed:
            found.append(Account(c, "enterprise", (*people, changed[c])))
        else:
            found.append(Account(c, ("free", "pro", "team")[c % 3], people))
    return found


def groups(companies: Iterable[Account]) -> Iterator[dict[str, Any]]:
    yield schema_message("groups", schemas.GROUPS, ["group_type", "group_value"])
    yield from record_messages(
        "groups",
        (
            {
                "group_type": GROUP_TYPE,
                "group_value": company_value(a.c),
                "group_properties": {
                    "name": a.name,
                    "plan": a.plan,
                    "employees": a.employees,
                    "industry": a.industry,
                },
                "members": [member(i) for i in a.people],
                "first_seen": WINDOW["window_start"],
                "last_seen": WINDOW["window_end"],
                **WINDOW,
            }
            for a in companies
        ),
    )


# ---------------------------------------------------------------- what Brevo holds


class Brevo:
    """The sandbox's companies and contact ids, read through its admin API (not counted as Brevo calls)."""

    def __init__(self, b: Bench) -> None:
        self.b = b
        self._ids: dict[int, int] = {}

    def companies(self) -> dict[str, dict[str, Any]]:
        """Company key -> company."""
        found = self.b.box.admin("GET", "brevo/companies")["companies"]
        return {str(c["attributes"].get(KEY_ATTRIBUTE)): c for c in found}

    def contact_id(self, i: int) -> int:
        if i not in self._ids:
            self._ids[i] = int(self.b.contact(i)["id"])
        return self._ids[i]

    def check_account(self, company: dict[str, Any] | None, a: Account, what: str) -> None:
        check(company is not None, f"{what}: company {a.c} exists")
        assert company is not None
        attributes = company["attributes"]
        expected = {"name": a.name, "plan": a.plan, "employees": a.employees, "industry": a.industry}
        got = {name: attributes.get(name) for name in expected}
        check(got == expected, f"{what}: company {a.c} attributes {got} == {expected}")
        links = sorted(self.contact_id(i) for i in a.people)
        check(company["linkedContactsIds"] == links, f"{what}: company {a.c} linked to exactly its members")

    def check_all(self, wanted: list[Account], what: str, samples: Iterable[int]) -> dict[str, dict[str, Any]]:
        """Every company there once, every link count right, the sampled companies exactly right."""
        found = self.companies()
        stats = self.b.stats()
        check(stats["companies"] == len(wanted) == len(found), f"{what}: {len(wanted):,} companies, no duplicate")
        links = sum(len(a.people) for a in wanted)
        check(stats["company_contacts"] == links, f"{what}: {links:,} links ({stats['company_contacts']:,})")
        for a in wanted:
            company = found.get(f"{GROUP_TYPE}:{company_value(a.c)}")
            check(company is not None and len(company["linkedContactsIds"]) == len(a.people), f"{what}: {a.c} links")
        for c in samples:
            self.check_account(found.get(f"{GROUP_TYPE}:{company_value(c)}"), wanted[c], what)
        return found


# ---------------------------------------------------------------- the scenarios


@dataclass
class Results:
    setup: list[Run] = field(default_factory=list)  # contact deliveries: shown, not counted
    rows: list[tuple[Run, str, int]] = field(default_factory=list)  # (run, what, companies it created or changed)
    first: Run | None = None
    changed_run: Run | None = None
    notes: list[str] = field(default_factory=list)


def company_calls(run: Run) -> int:
    """The run's calls but the start-up `GET /account` every run makes."""
    return run.total - run.calls.get(START_UP, 0)


def run_all(work: Path, sizes: dict[str, int], out: Results) -> None:
    n, k = sizes["companies"], sizes["changed"]
    people = n * MEMBERS
    every = max(n // k, 1)
    changed = {c: people + j for j, c in enumerate(range(0, n, every)[:k])}  # company -> its new member
    first, later = accounts(n), accounts(n, changed)
    samples = sorted({0, n // 2, n - 1, *list(changed)[:3]})
    with bench(work, "companies") as b:
        brevo = Brevo(b)
        config = b.config("companies", company_mapping=COMPANY_MAPPING)
        deliver = write_messages(b.work / "users.jsonl", users(range(people)))
        out.setup.append(b.run(f"deliver {people:,} contacts", config, deliver, people))
        check(b.stats()["contacts"] == people, f"{people:,} contacts in Brevo")

        path = write_messages(b.work / "groups.jsonl", groups(first))
        run = b.run(f"first sync: {n:,} companies", config, path, n)
        check(run.count("companies", "created") == n, f"first sync: {n:,} created")
        check(run.limited == 0, "first sync: no 429")
        brevo.check_all(first, "first sync", samples)
        out.rows.append((run, f"first sync: {n:,} companies created, {people:,} members linked", n))
        out.first = run

        before = brevo.companies()
        again = b.run(f"re-run: the same {n:,}", config, path, n)
        check(again.count("companies", "unchanged") == n, f"re-run: {n:,} unchanged")
        check(brevo.companies() == before, "re-run: Brevo unchanged (attributes, links, last_updated_at)")
        out.rows.append((again, f"re-run: the same {n:,} companies", 0))

        newcomers = sorted(changed.values())
        deliver = write_messages(b.work / "users-new.jsonl", users(newcomers))
        out.setup.append(b.run(f"deliver {len(newcomers):,} new contacts", config, deliver, len(newcomers)))
        path = write_messages(b.work / "groups-changed.jsonl", groups(later))
        update = b.run(f"update: {k:,} of {n:,} changed", config, path, n)
        check(update.count("companies", "updated") == k, f"update: {k:,} updated")
        check(update.count("companies", "unchanged") == n - k, f"update: {n - k:,} unchanged")
        check(update.count("companies", "created") == 0, "update: none created")
        after = brevo.check_all(later, "update", samples)
        moved = [key for key, company in after.items() if company["id"] != before[key]["id"]]
        check(not moved, "update: the companies kept their ids (updated in place)")
        untouched = [key for key, company in after.items() if int(key.rsplit("-", 1)[1]) not in changed]
        check(all(after[key] == before[key] for key in untouched), "update: the other companies untouched")
        out.rows.append((update, f"update: {k:,} of the {n:,} with a new `plan` and a 6th member", k))
        out.changed_run = update


# ---------------------------------------------------------------- output


def per_thousand(calls: int, companies: int) -> str:
    return f"{calls * 1000 / companies:,.0f}" if companies else "-"


def bucket_calls(run: Run) -> int:
    return per_scope(run.calls).get(BUCKET, 0)


def measured_table(out: Results) -> str:
    header = [
        "Groups run",
        "Brevo calls by endpoint",
        "Calls",
        "Company calls (without `GET /account`)",
        "Per 1,000 companies",
        "In the 100/h bucket",
        "429s",
        "Wall",
        "General-plan floor",
    ]
    body = [
        [
            what,
            run.by_endpoint(),
            f"{run.total:,}",
            f"{company_calls(run):,}",
            per_thousand(company_calls(run), companies) if run is out.first else "-",
            f"{bucket_calls(run):,}",
            run.limited,
            f"{run.wall:.1f} s",
            duration(floor_seconds(run.calls)),
        ]
        for run, what, companies in out.rows
    ]
    return benchlib.table(header, body, "llrrrrrrr")


def designs_table(out: Results, sizes: dict[str, int]) -> str:
    """The measured runs against one call per company (computed)."""
    n, k = sizes["companies"], sizes["changed"]
    assert out.first is not None and out.changed_run is not None
    header = ["Design", "Work", "Calls in the 100/h bucket", "Bucket-hours", "General-plan floor", "How"]

    def row(design: str, work: str, calls: dict[str, int], how: str) -> list[str]:
        bucket = per_scope(calls).get(BUCKET, 0)
        return [design, work, f"{bucket:,}", f"{bucket / 100:.2f}", duration(floor_seconds(calls)), how]

    created, changed = f"{n:,} created + linked", f"{k:,} changed"
    updates = dict.fromkeys(ONE_EACH_UPDATE, k)
    rows = [
        row("target-brevo (CSV import)", created, out.first.calls, "measured"),
        row(f"one call each: `{ONE_EACH[0]}` + `{ONE_EACH[1]}`", created, dict.fromkeys(ONE_EACH, n), "computed"),
        row("one call each, members in the create (`linkedContactsIds`)", created, {ONE_EACH[0]: n}, "computed"),
        row("target-brevo (CSV import)", changed, out.changed_run.calls, "measured"),
        row(f"one call each: `{ONE_EACH_UPDATE[0]}` + `{ONE_EACH_UPDATE[1]}`", changed, updates, "computed"),
    ]
    return benchlib.table(header, rows, "llrrrl")


def notes(out: Results, sizes: dict[str, int]) -> list[str]:
    n = sizes["companies"]
    assert out.first is not None and out.changed_run is not None
    pages = out.first.calls.get("GET /companies", 0)
    setup = "; ".join(f"{r.label}: {r.by_endpoint()}, {r.wall:.1f} s" for r in out.setup)
    return [
        f"Contacts delivered before the groups runs (not counted above): {setup}.",
        (
            "New companies' ids: the CSV import does not return them, so the target reads "
            f"`GET /companies?createdSince=` in pages of {PAGE}: {pages:,} calls for {n:,} created companies (it stops "
            f"at a page shorter than {PAGE}, so a multiple of {PAGE} costs one more, empty, page). That is the only "
            f"part that grows with the companies: 10,000 new companies in one run would need "
            f"{10_000 // PAGE + 1:,} pages, more than the bucket's hour on their own."
        ),
        (
            f"An update costs the same whatever the number of changed companies ({company_calls(out.changed_run):,} "
            "company calls: the attribute list, one import, its polls; no page read, the ids are in the ledger); "
            "`GET /account` is every run's start-up call, in the same bucket, so a re-run that changes nothing "
            "still costs 1 bucket call."
        ),
        (
            "A one-call-each design would also need each member's contact id (`linkContactIds` takes ids, not "
            f"emails): {n * MEMBERS:,} `GET /contacts/{{email}}` in the contacts bucket (10/s: "
            f"{duration(n * MEMBERS / 10)}) or paged `GET /contacts`; not counted in its rows."
        ),
    ]


METHOD = """How the figures are made: one sandbox (general plan, real rate limits, import delay 0.5 s) and the real
`target-brevo` CLI with generated Singer messages on stdin (tap-amplitude's `users` and `groups` schemas;
`company_mapping` plan, employees, industry; one ledger across the runs); calls counted per endpoint in the
sandbox's request log (429s included). After each groups run the script checks Brevo's state: the number of
companies and of links, every company's link count, and for a sample (first, middle, last and changed companies)
name, attributes and exactly the member contact ids; after the re-run Brevo is unchanged, after the update the
companies kept their ids and the unchanged ones are untouched. *Bucket-hours*: calls / 100, the share of the
account's 100-requests-per-hour bucket (`/companies`, `/crm`, `/processes`, `/account`...) used up.
*General-plan floor*: per scope with L calls per W-second window, starting full, n calls need (ceil(n/L) - 1) x W
seconds (2,000 bucket calls: 20 windows, the last opening after 19 h)."""


def report(out: Results, sizes: dict[str, int], command: str, elapsed: float, load_before: str) -> str:
    load_after = benchlib.load_note()
    parts = [
        "## Companies: Brevo calls of Amplitude groups as Brevo companies (issue 15)",
        "",
        f"Run {benchlib.now_stamp()}: `{command}` ({elapsed:.0f} s in all); {load_before} before, {load_after} after.",
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        f"{sizes['companies']:,} companies of {MEMBERS} members each; general plan.",
        "",
        measured_table(out),
        "",
        designs_table(out, sizes),
        "",
        *(f"- {note}" for note in notes(out, sizes)),
        "",
        METHOD,
    ]
    return "\n".join(parts)


def scaled_sizes(scale: float) -> dict[str, int]:
    companies = max(int(FULL["companies"] * scale), 2)
    return {"companies": companies, "changed": max(min(int(FULL["changed"] * scale), companies), 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's sizes (1 = 1,000 companies "
                        "of 5 members, 100 of them changed)")  # fmt: skip
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (inputs, logs, summaries)")
    args = parser.parse_args(argv)
    sizes = scaled_sizes(args.scale)
    work = Path(tempfile.mkdtemp(prefix="bench-companies-"))
    load_before = benchlib.load_note()
    started = time.monotonic()
    out = Results()
    try:
        run_all(work, sizes, out)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    command = benchlib.command_line("bench/companies_calls.py", argv)
    text = report(out, sizes, command, time.monotonic() - started, load_before)
    print()
    print(text)
    if args.no_results:
        return
    benchlib.publish(SECTION, args.scale, text)


if __name__ == "__main__":
    main()
