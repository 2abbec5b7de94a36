"""The checks after the load: answers against the PostgreSQL trail, levels, feedback, replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loadgen import SERVICE, Answer

from calfrules import Level
from calfrules.knowledge.builtin import BUILTIN_PLUGINS


@dataclass
class Check:
    name: str
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def answered(answers: Sequence[Answer]) -> Check:
    """Every request sent got a 2xx: none lost, none a 5xx, no broken connection."""
    counts = Counter(
        "2xx" if a.status is not None and 200 <= a.status < 300
        else "5xx" if a.status is not None and a.status >= 500
        else "connection_error" if a.status is None
        else "other" for a in answers
    )  # fmt: skip
    figures = {"sent": len(answers), **{k: counts.get(k, 0) for k in ("2xx", "5xx", "connection_error", "other")}}
    figures["lost"] = len(answers) - figures["2xx"]
    problems = [f"{a.request_id}: {a.status or a.error}" for a in answers if a.status != 200][:10]
    return Check("every request answered 2xx", figures["lost"] == 0, figures, problems)


def retried_request_ids(log: Sequence[dict[str, str]]) -> set[str]:
    """The request ids HAProxy retried (its %rc: a number above 0, '+' when sent to another instance)."""
    return {entry["req"] for entry in log if entry.get("retries", "0").lstrip("+") not in ("0", "", "-")}


def trail_rows(url: str) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as connection:
        return list(connection.execute("SELECT id, request_id, level FROM audit_records").fetchall())


def one_record_each(answers: Sequence[Answer], rows: Sequence[dict[str, Any]], retried: set[str]) -> Check:
    """Every 2xx names exactly one record (its id, its request id, its level); every other record is
    the first attempt of a request the balancer retried."""
    ok = [a for a in answers if a.status == 200]
    by_id = {row["id"]: row for row in rows}
    problems: list[str] = []
    ids = Counter(a.audit_id for a in ok)
    problems += [f"{a.request_id}: answered without X-Calfrules-Audit-Id" for a in ok if a.audit_id is None]
    problems += [f"audit id {rid} answered {n} times" for rid, n in ids.items() if rid is not None and n > 1]
    for a in ok:
        row = by_id.get(a.audit_id or "")
        if a.audit_id is not None and row is None:
            problems.append(f"{a.request_id}: record {a.audit_id} is not in the trail")
        elif row is not None and (row["request_id"] != a.request_id or row["level"] != a.level):
            problems.append(f"{a.request_id}: record {a.audit_id} is {row['request_id']} at {row['level']}")
    answered_ids = set(ids)
    extra = [row for row in rows if row["id"] not in answered_ids]
    unexplained = [row for row in extra if row["request_id"] not in retried]
    problems += [f"record {row['id']} (request {row['request_id']}) answered nobody" for row in unexplained]
    requests = Counter(row["request_id"] for row in rows)
    figures = {
        "records": len(rows),
        "answered_2xx": len(ok),
        "extra_records_from_retries": len(extra) - len(unexplained),
        "unexplained_records": len(unexplained),
        "request_ids_recorded_twice": sum(1 for n in requests.values() if n > 1),
    }
    return Check("every 2xx has exactly one audit record", not problems, figures, problems[:10])


def levels(answers: Sequence[Answer], expected: Sequence[Level]) -> Check:
    """No answer below its case's level (from an in-process engine with the same plugins)."""
    ok = [a for a in answers if a.status == 200]
    below = [a for a in ok if a.level is None or Level(a.level) < expected[a.case]]
    above = [a for a in ok if a.level is not None and Level(a.level) > expected[a.case]]
    problems = [f"{a.request_id} ({a.kind}): {a.level} for a {expected[a.case].value} case" for a in below]
    figures_below = Counter(f"{a.kind} case {a.case}" for a in below)
    figures = {
        "below": len(below),
        "above": len(above),
        "levels_in_mix": sorted({e.value for e in expected}),
        "below_by_case": dict(figures_below.most_common(10)),
    }
    return Check("no answer below the case's level", not below, figures, problems[:10])


def feedback(base: str, token: str, answers: Sequence[Answer], instances: Sequence[str], url: str) -> Check:
    """Feedback through the balancer on a card answered by each instance (the killed one too)."""
    figures: dict[str, Any] = {}
    problems: list[str] = []
    for name in instances:
        card = next((a for a in answers if a.kind == "cds" and a.status == 200 and a.instance == name), None)
        if card is None or card.audit_id is None:
            problems.append(f"no card answered by {name}")
            continue
        body = {
            "feedback": [
                {
                    "card": card.audit_id,
                    "outcome": "overridden",
                    "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                    "overrideReason": {"userComment": f"cluster test: card from {name}"},
                }
            ]
        }
        request = urllib.request.Request(
            f"{base}{SERVICE}/feedback",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, taken_by, text = reply.status, reply.headers.get("X-Calfrules-Instance"), reply.read()
        except urllib.error.HTTPError as exc:
            status, taken_by, text = exc.code, exc.headers.get("X-Calfrules-Instance"), exc.read()
        stored = _feedback_count(url, card.audit_id)
        figures[name] = {"card": card.audit_id, "status": status, "recorded_by": taken_by, "in_trail": stored}
        if status != 200 or stored != 1:
            problems.append(f"feedback on {name}'s card {card.audit_id}: {status} {text[:200]!r}, {stored} in trail")
    return Check("feedback works whichever instance answered", not problems, figures, problems)


def _feedback_count(url: str, record_id: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT count(*) FROM audit_feedback WHERE record_id = %s", (record_id,))
        row = found.fetchone()
        return int(row[0]) if row else 0


def replay(url: str, answers: Sequence[Answer], rows: Sequence[dict[str, Any]], instances: Sequence[str]) -> Check:
    """`calfrules audit replay` reads every record, and the trail holds records from every instance."""
    env = {**os.environ, "CALFRULES_AUDIT": url, "CALFRULES_PLUGINS": ",".join(BUILTIN_PLUGINS)}
    run = subprocess.run(
        [sys.executable, "-m", "calfrules", "audit", "replay", "--json"], env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        return Check("audit replay covers every instance", False, {}, [run.stderr.strip()[-500:]])
    report = json.loads(run.stdout)
    recorded = {row["id"] for row in rows}
    per_instance = Counter(a.instance for a in answers if a.status == 200 and a.audit_id in recorded)
    figures = {
        "replayed": report["replayed"],
        "records": len(rows),
        "would_change": report["changed"],
        "records_by_instance": {name: per_instance.get(name, 0) for name in instances},
    }
    problems = []
    if report["replayed"] != len(rows):
        problems.append(f"replay read {report['replayed']} of {len(rows)} records")
    problems += [f"no record answered by {name}" for name in instances if not per_instance.get(name)]
    return Check("audit replay covers every instance", not problems, figures, problems)


def kill_felt(killed: str, status: str, answers: Sequence[Answer], killed_at: float) -> Check:
    """The killed instance answered before the kill, and HAProxy took it out of rotation."""
    before = sum(1 for a in answers if a.instance == killed)
    figures = {"killed": killed, "answers_from_it": before, "haproxy_status_after": status, "killed_at_s": killed_at}
    problems = [] if status.startswith("DOWN") else [f"HAProxy still sees {killed} as {status}"]
    if before == 0:
        problems.append(f"{killed} answered nothing before it was killed")
    return Check("the killed instance was taken out", not problems, figures, problems)
