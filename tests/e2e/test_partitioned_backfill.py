"""The partitioned backfill recipe (orchestration/backfill.py, what the Airflow DAG and the Dagster job run).

End to end: two daily partitions in parallel, then the final run, leave Brevo in the same state as one sequential
`meltano run` over the same two days. Each way starts from an empty Brevo account (the sandbox's Brevo is reset
between them; the Amplitude project and the clock stay) and has its own Meltano system database, delivery ledger
and privacy store.

Without the sandbox: the plan (partitions, commands, variables) and the local runner (parallel workers, retries,
the final run only after every partition, a `.meltano` directory per run) with a stand-in `meltano`.
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.support import BREVO_LISTS, MELTANO, REPO, SEED_START, Pipeline, wait_for
from orchestration import backfill

USERS, EVENTS, DAYS = 80, 2400, 2
END = SEED_START + timedelta(days=DAYS)
BACKFILL = REPO / "orchestration" / "backfill.py"
# A backfill is history: every event is sent (none is live), every order historical (no automation fires).
HISTORY = {"TARGET_BREVO_SEND_OLD_EVENTS": "true", "TARGET_BREVO_ORDERS_HISTORICAL": "true"}
# What differs between two accounts holding the same things: ids and the times Brevo stored them.
VOLATILE = {"id", "createdAt", "modifiedAt", "received_at", "accepted_at", "contact_id", "batch_id", "created_at",
            "last_updated_at", "linkedContactsIds"}  # fmt: skip


def own_stores(p: Pipeline, name: str) -> dict[str, str]:
    """A Meltano system database, delivery ledger, privacy store and reports of this way's own."""
    root = p.workdir / name
    root.mkdir()
    return {
        "MELTANO_DATABASE_URI": f"sqlite:///{root / 'meltano.db'}",
        "TARGET_BREVO_LEDGER_PATH": str(root / "ledger.sqlite3"),
        "TARGET_BREVO_PRIVACY_STORE_PATH": str(root / "privacy.sqlite3"),
        "TARGET_BREVO_SUMMARY_FILE": str(root / "summary.json"),
        "TARGET_BREVO_REJECTS_FILE": str(root / "rejects.jsonl"),
        **HISTORY,
    }


def run_backfill(p: Pipeline, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    """orchestration/backfill.py as a user runs it; every run's outcome (its --report)."""
    reports = Path(env["TARGET_BREVO_LEDGER_PATH"]).parent / "backfill"
    result = subprocess.run(
        [sys.executable, str(BACKFILL), f"--start={SEED_START.isoformat()}", f"--end={END.isoformat()}",
         "--retries=0", f"--meltano={MELTANO}", f"--project-dir={REPO}", f"--reports-dir={reports}",
         f"--report={reports / 'report.json'}", *args],
        env={**p.env, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"backfill failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return json.loads((reports / "report.json").read_text())


def reset_brevo(p: Pipeline) -> None:
    """An empty Brevo account with the fixture's lists and import speed (the Amplitude side is untouched)."""
    p.sandbox.admin("POST", "brevo/reset")
    p.sandbox.configure("brevo", import_delay_seconds=0.05)
    p.sandbox.seed("brevo", lists=BREVO_LISTS)
    assert p.brevo("stats")["contacts"] == 0


def without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def brevo_state(p: Pipeline) -> dict[str, Any]:
    """What the account holds, keyed by what does not depend on the order things arrived in (contacts by
    email, not by the id Brevo gave them); lists and companies as counts of what each holds, so that two of
    the same name both show."""
    contacts = p.all_pages("contacts", "contacts")
    who = {c["id"]: c.get("email") or c["attributes"].get("EXT_ID") for c in contacts}
    return {
        "contacts": {who[c["id"]]: without(c, VOLATILE) for c in contacts},
        "events": Counter(
            json.dumps([who[e["contact_id"]], without(e, VOLATILE)], sort_keys=True)
            for e in p.all_pages("events", "events")
        ),
        "orders": {
            o["order"]["id"]: [who[o["contact_id"]], without(o, VOLATILE)] for o in p.all_pages("orders", "orders")
        },
        "list_members": Counter(
            json.dumps([item["name"], sorted(p.list_members(item["id"]))]) for item in p.brevo("lists")["lists"]
        ),
        "companies": Counter(
            json.dumps([without(c, VOLATILE), sorted(who[i] for i in c["linkedContactsIds"])], sort_keys=True)
            for c in p.brevo("companies")["companies"]
        ),
    }


def differences(left: dict[str, Any], right: dict[str, Any], limit: int = 5) -> list[str]:
    """A few of the entries that differ, per part of the state (for the failure message)."""
    found = []
    for part, a in left.items():
        b = right[part]
        keys = sorted(set(a) | set(b), key=str)
        found += [f"{part}[{k!r}]: {a.get(k)!r} != {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)][:limit]
    return found


@pytest.mark.e2e
def test_two_daily_partitions_in_parallel_leave_brevo_as_one_sequential_run(pipeline: Pipeline) -> None:
    seeded = pipeline.seed_app(users=USERS, events=EVENTS, days=float(DAYS), start=SEED_START.isoformat())

    parallel = own_stores(pipeline, "parallel")
    outcomes = run_backfill(pipeline, parallel, "--partition-hours=24", "--workers=2")
    first, second, final = outcomes
    assert [o["name"] for o in outcomes] == [
        "backfill-20260302T00-20260303T00",
        "backfill-20260303T00-20260304T00",
        "backfill-final-20260302T00-20260304T00",
    ]
    assert all(o["status"] == "succeeded" for o in outcomes), outcomes
    assert max(first["started_at"], second["started_at"]) < min(first["finished_at"], second["finished_at"]), (
        "the two partitions ran at the same time"
    )
    assert final["started_at"] >= max(first["finished_at"], second["finished_at"])
    sent = [o["summary"]["objects"]["events"]["sent"] for o in (first, second)]
    assert all(sent), "each partition sent its own day's events"
    states = pipeline.run("state", "list", MELTANO_DATABASE_URI=parallel["MELTANO_DATABASE_URI"]).stdout.split()
    assert {f"demo:tap-amplitude-to-target-brevo:{o['name']}" for o in outcomes} <= set(states)
    by_partitions = brevo_state(pipeline)

    reset_brevo(pipeline)
    sequential = own_stores(pipeline, "sequential")
    pipeline.run(
        "run", "--state-id-suffix=sequential", "tap-amplitude", "target-brevo",
        TAP_AMPLITUDE_START_DATE=SEED_START.isoformat(), TAP_AMPLITUDE_END_DATE=END.isoformat(), **sequential,
    )  # fmt: skip
    by_one_run = brevo_state(pipeline)

    summary = json.loads(Path(sequential["TARGET_BREVO_SUMMARY_FILE"]).read_text())
    assert sum(sent) == summary["objects"]["events"]["sent"] == sum(by_one_run["events"].values())
    assert len(by_one_run["contacts"]) == seeded["users"] and by_one_run["orders"] and by_one_run["companies"]
    assert any(json.loads(entry)[1] for entry in by_one_run["list_members"]), "lists have members"
    assert by_partitions == by_one_run, "\n".join(differences(by_partitions, by_one_run))


# -- the plan and the runner, without the sandbox -----------------------------------------------------------------

FAKE_MELTANO = """\
import json, os, pathlib, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "env": {k: v for k, v in os.environ.items() if k.startswith(("TAP_", "MELTANO_"))},
                          "at": time.time()}) + "\\n")
if args[:2] == ["state", "list"]:
    sys.exit(0)
failures = pathlib.Path(os.environ["FAKE_FAILURES"]) / args[1].split("=", 1)[1]
if failures.exists() and int(failures.read_text()) > 0:
    failures.write_text(str(int(failures.read_text()) - 1))
    sys.exit(3)
time.sleep(float(os.environ.get("FAKE_SECONDS", "0.5")))
summary = pathlib.Path(os.environ["TARGET_BREVO_SUMMARY_FILE"])
summary.write_text(json.dumps({"objects": {"events": {"sent": 7}}, "rate_limit": {"429_waited": 0}}))
"""


@pytest.fixture
def fake_project(tmp_path: Path) -> dict[str, Any]:
    """A project with tap-amplitude and target-brevo "installed", and a `meltano` that logs each call, fails the
    runs named in FAKE_FAILURES/<state id suffix> that many times, and writes the target's summary."""
    project = tmp_path / "project"
    for plugin in ("extractors/tap-amplitude", "loaders/target-brevo"):
        (project / ".meltano" / plugin).mkdir(parents=True)
    meltano = tmp_path / "meltano"
    meltano.write_text(f"#!{sys.executable}\n{FAKE_MELTANO}")
    meltano.chmod(0o755)
    failures = tmp_path / "failures"
    failures.mkdir()
    env = {"PATH": "/usr/bin:/bin", "FAKE_LOG": str(tmp_path / "calls.jsonl"), "FAKE_FAILURES": str(failures)}
    return {
        "project": project,
        "meltano": str(meltano),
        "failures": failures,
        "env": env,
        "log": tmp_path / "calls.jsonl",
    }


def calls(fake: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fake["log"].read_text().splitlines()]


def test_partitions_cover_the_range_in_order_and_each_run_is_its_command_and_variables() -> None:
    start, end = backfill.parse_hour("2026-03-02"), backfill.parse_hour("2026-03-04T12:00:00Z")
    plan = backfill.plan(start, end, 24)
    assert [(r.start.isoformat(), r.end.isoformat()) for r in plan.partitions] == [
        ("2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"),
        ("2026-03-03T00:00:00+00:00", "2026-03-04T00:00:00+00:00"),
        ("2026-03-04T00:00:00+00:00", "2026-03-04T12:00:00+00:00"),  # the last one is shorter
    ]
    last = plan.partitions[-1]
    assert last.command("meltano") == [
        "meltano", "run", "--state-id-suffix=backfill-20260304T00-20260304T12", "tap-amplitude", "target-brevo"
    ]  # fmt: skip
    assert last.env("/reports") == {
        "TAP_AMPLITUDE_START_DATE": "2026-03-04T00:00:00+00:00",
        "TAP_AMPLITUDE_END_DATE": "2026-03-04T12:00:00+00:00",
        "TAP_AMPLITUDE__SELECT": '["events.*", "revenue.*"]',
        "TARGET_BREVO_SUMMARY_FILE": "/reports/backfill-20260304T00-20260304T12/brevo-summary.json",
        "TARGET_BREVO_REJECTS_FILE": "/reports/backfill-20260304T00-20260304T12/brevo-rejects.jsonl",
    }
    assert plan.final is not None and (plan.final.start, plan.final.end) == (start, end)
    assert plan.final.state_id_suffix == "backfill-final-20260302T00-20260304T12"
    assert json.loads(plan.final.env()["TAP_AMPLITUDE__SELECT"]) == [
        "users.*",
        "groups.*",
        "cohort_members.*",
        "deletions.*",
    ]
    assert backfill.Run.from_dict(last.to_dict()) == last  # what an orchestrator passes between tasks
    assert backfill.plan(start, end, 100, final_streams=()).final is None
    assert len(backfill.partitions(start, end, 1)) == 60


@pytest.mark.parametrize("bad", ["2026-03-02T05:30:00Z", "2026-03-02T05:00:00+02:00"])
def test_an_hour_must_be_a_whole_utc_hour(bad: str) -> None:
    with pytest.raises(ValueError, match=bad[:13]):
        backfill.parse_hour(bad)


def test_the_runner_runs_partitions_in_parallel_retries_a_failure_then_runs_the_final_run(
    fake_project: dict[str, Any], tmp_path: Path
) -> None:
    plan = backfill.plan(backfill.parse_hour("2026-03-02"), backfill.parse_hour("2026-03-05"), 24)
    (fake_project["failures"] / plan.partitions[1].name).write_text("1")
    runner = backfill.Runner(
        meltano=fake_project["meltano"], project_dir=fake_project["project"], workers=2, retries=1, retry_delay=0,
        reports_dir=tmp_path / "reports", env=fake_project["env"], say=lambda line: None,
    )  # fmt: skip
    outcomes = runner.run(plan)

    assert [(o.name, o.status, o.attempts) for o in outcomes] == [
        ("backfill-20260302T00-20260303T00", "succeeded", 1),
        ("backfill-20260303T00-20260304T00", "succeeded", 2),
        ("backfill-20260304T00-20260305T00", "succeeded", 1),
        ("backfill-final-20260302T00-20260305T00", "succeeded", 1),
    ]
    assert outcomes[0].summary == {"objects": {"events": {"sent": 7}}, "rate_limit": {"429_waited": 0}}
    made = calls(fake_project)
    assert made[0]["args"] == ["state", "list"], "the system database is prepared before runs start together"
    runs = [c for c in made if c["args"][0] == "run"]
    first, second = runs[0], runs[1]
    assert abs(first["at"] - second["at"]) < 0.5, "two workers start two runs at once"
    assert runs[-1]["args"][1] == "--state-id-suffix=backfill-final-20260302T00-20260305T00"
    assert runs[-1]["at"] >= max(o.finished_at for o in outcomes[:3]) - 0.5, "the final run comes last"
    sys_dirs = {c["env"]["MELTANO_SYS_DIR_ROOT"] for c in runs}
    assert len(sys_dirs) == 4, "each run has a .meltano directory of its own"
    for sys_dir in sys_dirs:
        assert Path(sys_dir, "extractors").resolve() == fake_project["project"] / ".meltano" / "extractors"
    database = f"sqlite:///{fake_project['project'] / '.meltano' / 'meltano.db'}"
    assert {c["env"]["MELTANO_DATABASE_URI"] for c in made} == {database}, "bookmarks stay in the project's database"


def test_a_partition_that_keeps_failing_stops_the_final_run_and_the_cli_exits_non_zero(
    fake_project: dict[str, Any], tmp_path: Path
) -> None:
    (fake_project["failures"] / "backfill-20260302T00-20260303T00").write_text("9")
    result = subprocess.run(
        [sys.executable, str(BACKFILL), "--start=2026-03-02", "--end=2026-03-04", "--retries=1", "--retry-delay=0",
         f"--meltano={fake_project['meltano']}", f"--project-dir={fake_project['project']}",
         f"--reports-dir={tmp_path / 'reports'}", f"--report={tmp_path / 'report.json'}"],
        env={**fake_project["env"], "MELTANO_DATABASE_URI": "sqlite:////elsewhere.db"}, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = {o["name"]: (o["status"], o["attempts"]) for o in json.loads((tmp_path / "report.json").read_text())}
    assert report == {
        "backfill-20260302T00-20260303T00": ("failed", 2),
        "backfill-20260303T00-20260304T00": ("succeeded", 1),
        "backfill-final-20260302T00-20260304T00": ("not run", 0),
    }
    assert "not done: backfill-20260302T00-20260303T00, backfill-final-20260302T00-20260304T00" in result.stdout
    assert {c["env"]["MELTANO_DATABASE_URI"] for c in calls(fake_project)} == {"sqlite:////elsewhere.db"}


def test_a_stop_stops_the_running_partitions_and_starts_nothing_new(
    fake_project: dict[str, Any], tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, str(BACKFILL), "--start=2026-03-02", "--end=2026-03-05", "--workers=2", "--retries=2",
         f"--meltano={fake_project['meltano']}", f"--project-dir={fake_project['project']}",
         f"--reports-dir={tmp_path / 'reports'}", f"--report={tmp_path / 'report.json'}"],
        env={**fake_project["env"], "FAKE_SECONDS": "30"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert wait_for(lambda: fake_project["log"].exists() and len(calls(fake_project)) == 3, timeout=20)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 1, output
    report = {o["name"]: o["status"] for o in json.loads((tmp_path / "report.json").read_text())}
    assert report == {
        "backfill-20260302T00-20260303T00": "stopped",
        "backfill-20260303T00-20260304T00": "stopped",
        "backfill-20260304T00-20260305T00": "not run",
        "backfill-final-20260302T00-20260305T00": "not run",
    }
    assert len(calls(fake_project)) == 3, "no retry and no new run after the stop"


@pytest.mark.parametrize("recipe", ["airflow_backfill_dag.py", "dagster_backfill.py"])
def test_the_orchestrator_files_are_python_that_runs_the_shared_plan(recipe: str) -> None:
    """Airflow and Dagster are not installed here: the files must parse, and plan through backfill.py."""
    source = (REPO / "orchestration" / recipe).read_text()
    tree = ast.parse(source)
    called = {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert {"plan", "parse_hour", "run_one", "prepare"} <= called
